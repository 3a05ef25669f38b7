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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from models.outbox import OutboxMessage


@dataclass(frozen=True)
class Claim:
    """One claimed notice, the fencing token this claim got, and the conversation
    it goes to: a team's channel, a person's chat, or the destination named in the
    notice (an answer's address, the organisation-wide digest channel)."""

    id: int
    token: int
    conversation: str = ""


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    owner: str,
    batch: int,
    lease: timedelta,
) -> list[Claim]:
    """Lease up to `batch` due notices, the first pending one of each lane."""
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
            earlier.request_id == OutboxMessage.request_id,
            earlier.recipient_team_id.is_not_distinct_from(OutboxMessage.recipient_team_id),
            earlier.recipient_person_id.is_not_distinct_from(OutboxMessage.recipient_person_id),
            earlier.id < OutboxMessage.id,
            earlier.delivered_at.is_(None),
            earlier.dead_at.is_(None),
            or_(earlier.attempts > 0, earlier.next_attempt_at <= now),
        )
        .exists()
    )
    async with sessions.begin() as session:
        rows = await session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.dead_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
                or_(OutboxMessage.request_id.is_(None), ~earlier_pending),
            )
            .order_by(OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        ids = list(rows)
        if not ids:
            return []
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                lease_token=OutboxMessage.lease_token + 1,
            )
            .execution_options(synchronize_session=False)
        )
        tokens = await session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.lease_token,
                OutboxMessage.recipient_team_id,
                OutboxMessage.recipient_person_id,
                OutboxMessage.payload,
            )
            .where(OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.id)
        )
        return [
            Claim(int(row_id), int(token), _conversation(team, person, payload))
            for row_id, token, team, person, payload in tokens.all()
        ]


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
