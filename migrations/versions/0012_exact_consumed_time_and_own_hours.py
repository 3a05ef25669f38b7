"""exact consumed time, people's own working hours

The resolution clock's consumed time is kept in microseconds
(requests.resolution_consumed_microseconds) instead of whole seconds, which lost up
to a second at every pause; existing values are carried over exactly (seconds times
a million). People may name their own working hours (people.calendar_id), and the
desk an organisation-wide default (desk_settings.default_calendar_id): non-urgent
escalation DMs wait for them. Downgrading rounds consumed time down to whole seconds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:15:44.106141

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("desk_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_calendar_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_desk_settings_default_calendar_id_calendars"),
            "calendars",
            ["default_calendar_id"],
            ["id"],
        )

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_people_calendar_id_calendars"), "calendars", ["calendar_id"], ["id"]
        )

    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "resolution_consumed_microseconds",
                sa.BigInteger(),
                server_default="0",
                nullable=False,
            )
        )
    op.execute(
        "UPDATE requests SET resolution_consumed_microseconds"
        " = CAST(resolution_consumed_seconds AS BIGINT) * 1000000"
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("resolution_consumed_seconds")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "resolution_consumed_seconds", sa.Integer(), server_default="0", nullable=False
            )
        )
    op.execute(
        "UPDATE requests SET resolution_consumed_seconds"
        " = CAST(resolution_consumed_microseconds / 1000000 AS INTEGER)"
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("resolution_consumed_microseconds")
        batch_op.alter_column("resolution_consumed_seconds", server_default=None)

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_people_calendar_id_calendars"), type_="foreignkey"
        )
        batch_op.drop_column("calendar_id")

    with op.batch_alter_table("desk_settings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_desk_settings_default_calendar_id_calendars"), type_="foreignkey"
        )
        batch_op.drop_column("default_calendar_id")
