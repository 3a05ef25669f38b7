"""catalog_generation: the number catalog apply bumps, so cached catalogs are renewed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    table = op.create_table(
        'catalog_generation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('generation', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(table, [{'id': 1, 'generation': 0}])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('catalog_generation')
