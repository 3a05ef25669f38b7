"""Requests and everything that happens to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.directory import Person, Team
from models.vocabulary import ClockKind, Priority, Status

TITLE_MAX = 150
DESCRIPTION_MAX = 3000
CATEGORY_MAX = 80
COMMENT_MAX = 2000
MICROSECONDS = 1_000_000  # per second


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        # The SLA sweep reads only what is due: its cost follows due rows, not open rows.
        Index("ix_requests_next_check_at", "next_check_at"),
        Index("ix_requests_team_status", "team_id", "status"),
        Index("ix_requests_requester_status", "requester_id", "status"),
        # Reports read one team's period (the `stats` command: 1.6 s -> 0.2 s on 1M rows).
        Index("ix_requests_team_created", "team_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    number: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    category: Mapped[str | None] = mapped_column(String(CATEGORY_MAX))
    priority: Mapped[Priority] = mapped_column(SAEnum(Priority, native_enum=False, length=16))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(SAEnum(Status, native_enum=False, length=16))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # Where the request came from, so a platform retry finds it instead of filing twice.
    source_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The requester's Slack workspace when it was filed (None: not known in Slack).
    slack_workspace: Mapped[str | None] = mapped_column(String(32))

    created_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    # The standard the request was filed under (catalog changes don't move it).
    first_response_target_seconds: Mapped[int]
    resolution_target_seconds: Mapped[int]
    first_response_due_at: Mapped[datetime]
    # Business time from filing to the first response, kept when the clock stops
    # so reports aggregate it in SQL (the calendar arithmetic is not SQL).
    first_response_business_seconds: Mapped[int | None]
    # Resolution clock: consumed business time before the current run, and the
    # start of the current run (None while paused, e.g. waiting on the requester).
    # Microseconds, as exact as the clock's arithmetic: whole seconds would drop up
    # to a second at every pause, and a request paused often would drift.
    resolution_consumed_microseconds: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0"
    )
    resolution_running_since: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    # The highest rung of the escalation ladder reached (0: none), for the team card.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Times the requester reopened it, so reports need not search the audit log per row.
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    team: Mapped[Team] = relationship(lazy="joined")
    requester: Mapped[Person] = relationship(foreign_keys=[requester_id], lazy="joined")
    assignee: Mapped[Person | None] = relationship(foreign_keys=[assignee_id], lazy="joined")


def resolution_within_standard() -> ColumnElement[bool]:
    """SQL: the resolution clock consumed at most its target (exactly, to the microsecond)."""
    target = cast(Request.resolution_target_seconds, BigInteger) * MICROSECONDS
    return Request.resolution_consumed_microseconds <= target


def resolution_consumed_whole_seconds() -> ColumnElement[int]:
    """SQL: the consumed resolution time in whole seconds (rounded down), for histograms."""
    return Request.resolution_consumed_microseconds // MICROSECONDS


class RequestEvent(Base):
    """The append-only audit log: who did what to which request, when."""

    __tablename__ = "request_events"
    # Reports ask "was this request ever resolved / reopened?" per request.
    __table_args__ = (Index("ix_request_events_request_kind", "request_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]


class Escalation(Base):
    """One warning or ladder step that fired; unique so it fires exactly once."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("request_id", "clock", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    clock: Mapped[ClockKind] = mapped_column(SAEnum(ClockKind, native_enum=False, length=16))
    # 0 is the warning before the lapse; 1.. are ladder steps.
    level: Mapped[int]
    fired_at: Mapped[datetime]


class Survey(Base):
    __tablename__ = "surveys"
    # The report shows the latest five-star comments: read backwards from the newest.
    __table_args__ = (Index("ix_surveys_answered_at", "answered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    scale: Mapped[int]
    sent_at: Mapped[datetime]
    rating: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
