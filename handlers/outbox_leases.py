"""The outbox's leases: claim, mark in flight, renew, and record an outcome, fenced.

A dispatch loop claims a few due notices by leasing them for a few seconds; the
lease is renewed while a delivery is in flight, so a dead process's notices are
free again within one lease. Every claim increments the row's `lease_token`;
every later write of that claimer (renewal, in-flight mark, outcome) is an UPDATE
... WHERE lease_owner = me AND lease_token = mine, so a loop that lost its lease
(it stalled, or its database connection did, and another loop claimed the row)
writes nothing over the new owner's work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from models.outbox import OutboxMessage


@dataclass(frozen=True)
class Claim:
    """One claimed notice, the fencing token this claim got, the conversation it
    goes to (a team's channel, a person's chat, or the destination named in the
    notice: an answer's address, the organisation-wide digest channel), and what
    the claim read of the row for its delivery."""

    id: int
    token: int
    conversation: str = ""
    kind: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    request_id: int | None = None
    team_id: int | None = None
    person_id: int | None = None
    created_at: datetime | None = None
    attempts: int = 0
    failing_since: datetime | None = None
    # An earlier attempt may have reached the platform: it said so, or it was
    # still marked in flight when this claim took the notice (its process died
    # or lost the lease mid-delivery).
    maybe_sent: bool = False

    @property
    def lane(self) -> tuple[int, int | None, int | None]:
        """Notices in one lane (request and recipient) are delivered in order."""
        return (self.request_id or -self.id, self.team_id, self.person_id)


async def claim(
    session: AsyncSession,
    now: datetime,
    owner: str,
    batch: int,
    lease: timedelta,
) -> list[Claim]:
    """Lease up to `batch` due notices, the first pending one of each lane, in one
    statement that also returns what delivering them needs (no read per notice).
    Committed by the caller's transaction."""
    candidate = aliased(OutboxMessage)
    earlier = aliased(OutboxMessage)
    # In order per request and recipient (a lane): a notice waits while an earlier
    # one of the same request to the same recipient is pending, in flight or being
    # retried. Different recipients don't wait on each other (the team channel must
    # not stall behind a requester's DM). One held for the recipient's working hours
    # and never tried holds nothing back: an urgent escalation at 04:00 must not wait
    # for Monday behind the 03:00 one.
    earlier_pending = (
        select(earlier.id)
        .where(
            earlier.request_id == candidate.request_id,
            earlier.recipient_team_id.is_not_distinct_from(candidate.recipient_team_id),
            earlier.recipient_person_id.is_not_distinct_from(candidate.recipient_person_id),
            earlier.id < candidate.id,
            earlier.delivered_at.is_(None),
            earlier.dead_at.is_(None),
            or_(earlier.attempts > 0, earlier.next_attempt_at <= now),
        )
        .exists()
    )
    due = (
        select(candidate.id)
        .where(
            candidate.delivered_at.is_(None),
            candidate.dead_at.is_(None),
            candidate.next_attempt_at <= now,
            or_(candidate.lease_until.is_(None), candidate.lease_until < now),
            or_(candidate.request_id.is_(None), ~earlier_pending),
        )
        .order_by(candidate.id)
        .limit(batch)
        # PostgreSQL: replicas claiming at once skip each other's rows (SQLite has
        # one writer at a time and ignores it).
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due))
        .values(
            lease_owner=owner,
            lease_until=now + lease,
            lease_token=OutboxMessage.lease_token + 1,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.lease_token,
            OutboxMessage.kind,
            OutboxMessage.payload,
            OutboxMessage.request_id,
            OutboxMessage.recipient_team_id,
            OutboxMessage.recipient_person_id,
            OutboxMessage.created_at,
            OutboxMessage.attempts,
            OutboxMessage.failing_since,
            OutboxMessage.maybe_sent,
            OutboxMessage.attempt_started_at,
        )
        .execution_options(synchronize_session=False)
    )
    claims = [
        Claim(
            id=int(row.id),
            token=int(row.lease_token),
            conversation=_conversation(row.recipient_team_id, row.recipient_person_id, row.payload),
            kind=row.kind,
            payload=row.payload,
            request_id=row.request_id,
            team_id=row.recipient_team_id,
            person_id=row.recipient_person_id,
            created_at=row.created_at,
            attempts=int(row.attempts),
            failing_since=row.failing_since,
            maybe_sent=bool(row.maybe_sent) or row.attempt_started_at is not None,
        )
        for row in rows.all()
    ]
    # RETURNING comes in no particular order; notices go out in queue order.
    return sorted(claims, key=lambda claimed: claimed.id)


def _conversation(team: int | None, person: int | None, payload: dict[str, Any]) -> str:
    if team is not None:
        return f"team:{team}"
    if person is not None:
        return f"person:{person}"
    # Answers to different people (their own addresses) go side by side; two to the
    # same address, one after the other.
    return "to:" + json.dumps(payload.get("destination") or {}, sort_keys=True)


def held(claimed: Claim, owner: str) -> ColumnElement[bool]:
    """The fence: the row is still leased to this claim."""
    return (
        (OutboxMessage.id == claimed.id)
        & (OutboxMessage.lease_owner == owner)
        & (OutboxMessage.lease_token == claimed.token)
        & OutboxMessage.delivered_at.is_(None)
    )


async def fenced_update(session: AsyncSession, claimed: Claim, owner: str, **values: Any) -> bool:
    """UPDATE the claimed row only while this claim holds it; whether it did."""
    result = await session.execute(
        update(OutboxMessage)
        .where(held(claimed, owner))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def fenced_updates(
    session: AsyncSession, owner: str, writes: Sequence[tuple[Claim, dict[str, Any]]]
) -> set[int]:
    """Several fenced writes (different values per row) in one statement: the ids
    of the rows this owner still held and wrote. One notice's outcome and the next
    one's in-flight mark cost one UPDATE instead of two."""
    if len(writes) == 1:
        ((claimed, values),) = writes
        return {claimed.id} if await fenced_update(session, claimed, owner, **values) else set()
    columns = OutboxMessage.__table__.c
    names = sorted({name for _claimed, values in writes for name in values})
    result = await session.execute(
        update(OutboxMessage)
        .where(or_(*(held(claimed, owner) for claimed, _values in writes)))
        .values(
            {
                name: case(
                    *(
                        (OutboxMessage.id == claimed.id, literal(values[name], columns[name].type))
                        for claimed, values in writes
                        if name in values
                    ),
                    else_=columns[name],
                )
                for name in names
            }
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return {int(row_id) for row_id in result.scalars()}


async def renew(
    sessions: async_sessionmaker[AsyncSession],
    claimed: Claim,
    owner: str,
    until: datetime,
) -> bool:
    """Extend the lease of a delivery in flight; False when it was lost."""
    async with sessions.begin() as session:
        return await fenced_update(session, claimed, owner, lease_until=until)


def released() -> dict[str, Any]:
    """The values that end a claim (with an outcome recorded, or none)."""
    return {"lease_owner": None, "lease_until": None}
