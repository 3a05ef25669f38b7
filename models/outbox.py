"""Every message the bot sends is first a row here (docs/architecture.md, Outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, orm_insert_sentinel

from models.base import Base


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "delivered_at", "dead_at", "next_attempt_at"),
        Index("ix_outbox_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    # Exactly one recipient: a person (DM) or a team (its channel).
    recipient_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recipient_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The last failure as a short code from a bounded set (a platform's error code
    # such as `channel_not_found`, `http_5xx`, `unreachable`): what metrics count.
    error_code: Mapped[str | None] = mapped_column(String(40))
    # When the current run of failures began: transient failures are retried until
    # the retry horizon has passed since then (OUTBOX_RETRY_HORIZON).
    failing_since: Mapped[datetime | None]
    # The channel that delivered the notice, or last tried to.
    channel: Mapped[str | None] = mapped_column(String(16))
    message_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A dispatch loop claims rows by leasing them for a few seconds and renews the
    # lease while it delivers; a dead process's lease simply runs out.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    # Fencing token: every claim increments it, and each write of a claimer names
    # the token it got, so a loop whose lease was taken over writes nothing.
    lease_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set (and committed) before a channel is asked to deliver, cleared when the
    # outcome is recorded: still set at the next claim means the attempt may have
    # reached the platform.
    attempt_started_at: Mapped[datetime | None]
    # Some earlier attempt may have reached the platform (sticky until delivered):
    # the channel is told, so it can look for that post instead of posting again.
    maybe_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Lets one flush insert several notices in one statement on SQLite too (a card
    # and its command's answer): SQLite's RETURNING gives no order for new ids, and
    # without this column SQLAlchemy falls back to one INSERT per row. It numbers
    # the rows of one INSERT and is never read.
    _sentinel: Mapped[int | None] = orm_insert_sentinel()


class MessageRef(Base):
    """Where a living message (the team card, a survey) sits on a platform,
    so later changes edit it in place instead of posting again."""

    __tablename__ = "message_refs"
    __table_args__ = (UniqueConstraint("request_id", "channel", "purpose", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    ref: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class ThreadLink(Base):
    """A message we posted about a request, so replies and reactions to it find
    their request: a reply in the team card's thread, a reaction on a survey."""

    __tablename__ = "thread_links"
    __table_args__ = (UniqueConstraint("channel", "conversation", "message"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    conversation: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    # Whose conversation it is: the team's channel or the requester's DM.
    audience: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class InboundKey(Base):
    """Platform deliveries already handled (Slack event ids, Teams activity ids):
    platforms retry, and a retry must not act twice."""

    __tablename__ = "inbound_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class ConversationAddress(Base):
    """Where a platform lets us write proactively: a Teams channel or personal chat.

    Bot Framework can only post where it was installed or spoken to; the
    reference it hands us then (service URL, conversation, tenant) is kept here
    so the outbox can write later without anyone talking first.
    """

    __tablename__ = "conversation_addresses"
    __table_args__ = (UniqueConstraint("channel", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # "channel" | "person"
    key: Mapped[str] = mapped_column(String(200))  # channel id | the person's platform id
    reference: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
