"""outbox._sentinel: several notices inserted in one statement on SQLite

SQLite's RETURNING does not say which new id belongs to which row, so SQLAlchemy
inserts one row per statement unless a sentinel column numbers the rows
(models.outbox.OutboxMessage._sentinel).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 16:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('outbox', sa.Column('_sentinel', sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('_sentinel')
