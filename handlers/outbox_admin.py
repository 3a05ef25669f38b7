"""What an operator sees of the outbox (`inhouse outbox list`) and can do (`retry`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.directory import Person, Team
from models.outbox import OutboxMessage
from models.requests import Request


class NoticeState(StrEnum):
    DEAD = "dead"  # a dead letter: given up, waits for `outbox retry`
    IN_FLIGHT = "in_flight"  # a live dispatcher is delivering it now
    INTERRUPTED = "interrupted"  # its attempt's process died or lost the lease mid-way
    RETRYING = "retrying"  # failed, tried again at next_attempt_at
    QUEUED = "queued"  # due, or held until next_attempt_at (e.g. working hours)


@dataclass(frozen=True)
class NoticeRow:
    id: int
    kind: str
    request_key: str | None
    to: str  # "#team-key", a person's email or name, or "destination"
    state: NoticeState
    attempts: int
    next_attempt_at: datetime
    error_code: str | None
    last_error: str | None
    maybe_sent: bool


async def undelivered(
    session: AsyncSession, now: datetime, *, dead_only: bool = False
) -> list[NoticeRow]:
    """Every notice not delivered yet (or only the dead letters), oldest first."""
    query = (
        select(OutboxMessage, Request.key, Team.key, Person.email, Person.display_name)
        .outerjoin(Request, Request.id == OutboxMessage.request_id)
        .outerjoin(Team, Team.id == OutboxMessage.recipient_team_id)
        .outerjoin(Person, Person.id == OutboxMessage.recipient_person_id)
        .where(OutboxMessage.delivered_at.is_(None))
        .order_by(OutboxMessage.id)
    )
    if dead_only:
        query = query.where(OutboxMessage.dead_at.is_not(None))
    rows = await session.execute(query)
    return [
        NoticeRow(
            id=message.id,
            kind=message.kind,
            request_key=request_key,
            to=f"#{team}" if team else (email or name or "destination"),
            state=_state(message, now),
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at,
            error_code=message.error_code,
            last_error=message.last_error,
            maybe_sent=message.maybe_sent or message.attempt_started_at is not None,
        )
        for message, request_key, team, email, name in rows.all()
    ]


def _state(message: OutboxMessage, now: datetime) -> NoticeState:
    if message.dead_at is not None:
        return NoticeState.DEAD
    if message.attempt_started_at is not None:
        leased = message.lease_until is not None and message.lease_until >= now
        return NoticeState.IN_FLIGHT if leased else NoticeState.INTERRUPTED
    if message.failing_since is not None:
        return NoticeState.RETRYING
    return NoticeState.QUEUED


async def requeue(session: AsyncSession, message_id: int, now: datetime) -> bool:
    """Make an undelivered notice due now, with a fresh retry horizon; False if
    there is no such notice. A delivery in flight keeps its lease (and its outcome)."""
    message = await session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.delivered_at is not None:
        return False
    message.dead_at = None
    message.failing_since = None
    message.attempts = 0
    message.next_attempt_at = now
    return True
