"""sealed slack secrets fit their columns

Slack's tokens are stored encrypted (bot/slack/sealed_store.py): a Fernet token is
about 1.4 times its secret plus 100 characters, which slack_sdk's 200-character
columns do not hold for a rotating token. The secret columns are widened to 1000
(bot/slack/install_tables.py, SEALED_WIDTH); nothing else changes. Downgrading
needs the secrets decrypted first (values longer than 200 would not fit).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:49:18.029659

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen here as of this revision, not imported from the code.
SECRET_COLUMNS = {
    "slack_bots": ("bot_token", "bot_refresh_token"),
    "slack_installations": (
        "bot_token",
        "bot_refresh_token",
        "user_token",
        "user_refresh_token",
        "incoming_webhook_url",
    ),
}


def _resize(old: int, new: int) -> None:
    for table, columns in SECRET_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(
                    column,
                    existing_type=sa.String(length=old),
                    type_=sa.String(length=new),
                    existing_nullable=True,
                )


def upgrade() -> None:
    """Upgrade schema."""
    _resize(200, 1000)


def downgrade() -> None:
    """Downgrade schema."""
    _resize(1000, 200)
