"""Commands accepted but not yet carried out (see DESIGN.md, Inbox).

Slack wants an answer within 3 seconds, and filing a request (the team, its
standard, the calendar, the audit log, the team's card) takes longer than a
busy desk can promise. So a quick-file is first stored here, in one small
insert, and acknowledged; the command pump then files it and answers the person
through the platform's reply address. Stored before the acknowledgement, so an
acknowledged command survives a crash and is carried out when the desk restarts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, false
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

DELIVERY_KEY_MAX = 200
REPLY_ADDRESS_MAX = 1000


class PendingCommand(Base):
    """A command waiting to be carried out, or (done_at set) one carried out.

    A carried-out command's row stays, emptied of what the person typed and where
    to answer, so the same delivery coming again (Slack sends a Socket Mode envelope
    again when its acknowledgement was lost) meets the delivery key's unique index
    and is marked a repeat instead of being stored afresh (handlers.inbox.accept).
    Taking a command is then one UPDATE, and the record that it was done lands in
    that statement. Done rows are forgotten after handlers.inbox.DONE_KEPT.
    """

    __tablename__ = "pending_commands"
    __table_args__ = (
        # The pump's read (the oldest waiting ones) never wades through done rows.
        Index(
            "ix_pending_commands_waiting",
            "platform",
            "id",
            sqlite_where=sql("done_at IS NULL"),
            postgresql_where=sql("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    # The platform's id for this one invocation (Slack's trigger_id): the same
    # command delivered twice is stored once.
    delivery_key: Mapped[str] = mapped_column(String(DELIVERY_KEY_MAX), unique=True)
    # Which installation it came from (a Slack workspace), for the reply's token.
    workspace: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    # Where the answer goes (Slack's response_url, valid for 30 minutes).
    reply_address: Mapped[str] = mapped_column(String(REPLY_ADDRESS_MAX))
    # When this delivery (or its latest repeat) arrived.
    received_at: Mapped[datetime] = mapped_column(index=True)
    # Failed attempts to carry it out (an error, not a refusal): bounded, so one
    # broken command cannot hold up the ones behind it.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When it was carried out; None while it waits.
    done_at: Mapped[datetime | None]
    # Delivered again after it was carried out: to be answered, not done again.
    repeat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
