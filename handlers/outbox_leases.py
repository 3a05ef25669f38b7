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

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import BindParameter

from models.outbox import OutboxMessage

# The outbox table as Core sees it: the hot statements below are built once, with
# bind parameters, and reused. Built per call, their expressions (a CASE per column
# per row) cost more CPU than the database spends running them.
_outbox: Table = cast(Table, OutboxMessage.__table__)


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


@functools.lru_cache(maxsize=8)
def _claim_statement(batch: int) -> Update:
    """Lease up to `batch` due notices (see `claim`), built once per batch size.
    Parameters: `now`, `owner`, `lease_until`."""
    candidate = _outbox.alias("candidate")
    earlier = _outbox.alias("earlier")
    now = bindparam("now", type_=_outbox.c.next_attempt_at.type)
    # In order per request and recipient (a lane): a notice waits while an earlier
    # one of the same request to the same recipient is pending, in flight or being
    # retried. Different recipients don't wait on each other (the team channel must
    # not stall behind a requester's DM). One held for the recipient's working hours
    # and never tried holds nothing back: an urgent escalation at 04:00 must not wait
    # for Monday behind the 03:00 one.
    earlier_pending = (
        select(earlier.c.id)
        .where(
            earlier.c.request_id == candidate.c.request_id,
            earlier.c.recipient_team_id.is_not_distinct_from(candidate.c.recipient_team_id),
            earlier.c.recipient_person_id.is_not_distinct_from(candidate.c.recipient_person_id),
            earlier.c.id < candidate.c.id,
            earlier.c.delivered_at.is_(None),
            earlier.c.dead_at.is_(None),
            or_(earlier.c.attempts > 0, earlier.c.next_attempt_at <= now),
        )
        .exists()
    )
    due = (
        select(candidate.c.id)
        .where(
            candidate.c.delivered_at.is_(None),
            candidate.c.dead_at.is_(None),
            candidate.c.next_attempt_at <= now,
            or_(candidate.c.lease_until.is_(None), candidate.c.lease_until < now),
            or_(candidate.c.request_id.is_(None), ~earlier_pending),
        )
        .order_by(candidate.c.id)
        .limit(batch)
        # PostgreSQL: replicas claiming at once skip each other's rows (SQLite has
        # one writer at a time and ignores it).
        .with_for_update(skip_locked=True)
    )
    c = _outbox.c
    return (
        update(_outbox)
        .where(c.id.in_(due))
        .values(
            lease_owner=bindparam("owner", type_=c.lease_owner.type),
            lease_until=bindparam("lease_until", type_=c.lease_until.type),
            lease_token=c.lease_token + 1,
        )
        .returning(
            c.id,
            c.lease_token,
            c.kind,
            c.payload,
            c.request_id,
            c.recipient_team_id,
            c.recipient_person_id,
            c.created_at,
            c.attempts,
            c.failing_since,
            c.maybe_sent,
            c.attempt_started_at,
        )
    )


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
    rows = await session.execute(
        _claim_statement(batch), {"now": now, "owner": owner, "lease_until": now + lease}
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


@functools.lru_cache(maxsize=128)
def _fenced_statement(shape: tuple[tuple[str, ...], ...]) -> Update:
    """One UPDATE for writes to `len(shape)` claimed rows, row i setting the columns
    `shape[i]`, each row only while its claim holds it (the fence: this owner, this
    token, not delivered), RETURNING the ids written. Parameters: `owner`, and per
    row `id_i`, `token_i` and `<column>_i`."""
    c = _outbox.c
    owner = bindparam("owner", type_=c.lease_owner.type)
    ids = [bindparam(f"id_{i}", type_=c.id.type) for i in range(len(shape))]
    held = [
        (c.id == ids[i])
        & (c.lease_owner == owner)
        & (c.lease_token == bindparam(f"token_{i}", type_=c.lease_token.type))
        & c.delivered_at.is_(None)
        for i in range(len(shape))
    ]

    def value(name: str, i: int) -> BindParameter[Any]:
        return bindparam(f"{name}_{i}", type_=c[name].type)

    statement = update(_outbox).where(or_(*held)).returning(c.id)
    if len(shape) == 1:
        return statement.values({name: value(name, 0) for name in shape[0]})
    names = sorted({name for row in shape for name in row})
    return statement.values(
        {
            name: case(
                *((ids[i] == c.id, value(name, i)) for i, row in enumerate(shape) if name in row),
                else_=c[name],
            )
            for name in names
        }
    )


async def fenced_update(session: AsyncSession, claimed: Claim, owner: str, **values: Any) -> bool:
    """UPDATE the claimed row only while this claim holds it; whether it did."""
    return claimed.id in await fenced_updates(session, owner, [(claimed, values)])


async def fenced_updates(
    session: AsyncSession, owner: str, writes: Sequence[tuple[Claim, dict[str, Any]]]
) -> set[int]:
    """Several fenced writes (different values per row) in one statement: the ids
    of the rows this owner still held and wrote. One notice's outcome and the next
    one's in-flight mark cost one UPDATE instead of two."""
    shape = tuple(tuple(sorted(values)) for _claimed, values in writes)
    parameters: dict[str, Any] = {"owner": owner}
    for i, (claimed, values) in enumerate(writes):
        parameters[f"id_{i}"] = claimed.id
        parameters[f"token_{i}"] = claimed.token
        parameters.update({f"{name}_{i}": value for name, value in values.items()})
    result = await session.execute(_fenced_statement(shape), parameters)
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
