"""which profile fields the catalog sets

A person's time zone and language come from the catalog when it names them, and
otherwise from their chat profile, which is read again every few minutes so that a
change there is followed (bot/profiles.py). These flags say which of the two set
the stored value. Existing rows start as "from a profile": the next
`inhouse catalog apply` marks what the catalog says.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone_from_catalog", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("language_from_catalog", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("language_from_catalog")
        batch_op.drop_column("timezone_from_catalog")
