"""slack workspaces

With several Slack workspaces installed (OAuth), each delivery uses the bot token
of the workspace it goes to: people, team channels and the digest channel know
their workspace (a Slack team id, T…), and a request keeps its requester's. All
nullable: None means the only workspace there is (or SLACK_BOT_TOKEN's).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:12:31.402117

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = {
    "people": "slack_workspace",
    "teams": "slack_workspace",
    "requests": "slack_workspace",
    "desk_settings": "digest_slack_workspace",
}


def upgrade() -> None:
    """Upgrade schema."""
    for table, column in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    for table, column in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
