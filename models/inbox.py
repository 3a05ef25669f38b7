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

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

DELIVERY_KEY_MAX = 200
REPLY_ADDRESS_MAX = 1000


class PendingCommand(Base):
    __tablename__ = "pending_commands"

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
    received_at: Mapped[datetime] = mapped_column(index=True)
    # Failed attempts to carry it out (an error, not a refusal): bounded, so one
    # broken command cannot hold up the ones behind it.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
