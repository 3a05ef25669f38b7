"""The inbox of accepted commands: store one fast, take them in order.

See models.inbox for why a command waits here between the acknowledgement and
the work. Taking a command deletes it in the caller's transaction, the one that
carries it out: the command and its effects land together, so it is done once,
even with several processes taking from the same inbox. Its delivery key is kept
beyond the inbox row (as an inbound key), so the platform delivering the same
command again after it was carried out (Slack sends a Socket Mode envelope again
when its acknowledgement was lost) is recognised as a repeat, not done twice.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from models.inbox import DELIVERY_KEY_MAX, PendingCommand
from models.outbox import InboundKey

# Inbound keys are this long at most (models.outbox.InboundKey).
_INBOUND_KEY_MAX = 200


@dataclass(frozen=True)
class Accepted:
    """A stored command waiting for the pump."""

    id: int
    platform: str
    workspace: str | None
    user_id: str
    text: str
    reply_address: str
    received_at: datetime
    delivery_key: str = ""
    # Delivered again after the same command was carried out: answer, do not act.
    repeat: bool = False


@dataclass(frozen=True)
class Arrival:
    """A command as it came in, before it is stored."""

    platform: str
    delivery_key: str
    workspace: str | None
    user_id: str
    text: str
    reply_address: str
    received_at: datetime


async def accept(connection: AsyncConnection, arrivals: Sequence[Arrival]) -> None:
    """Store commands for the pump, in one statement; a delivery stored before is
    skipped (its key is unique).

    On a bare connection, not an ORM session: this runs before Slack's
    acknowledgement, and one Core insert costs a fraction of a session's flush.
    """
    await connection.execute(
        _insert_once(connection.dialect.name),
        [
            {
                "platform": a.platform,
                "delivery_key": a.delivery_key[:DELIVERY_KEY_MAX],
                "workspace": a.workspace,
                "user_id": a.user_id,
                "text": a.text,
                "reply_address": a.reply_address,
                "received_at": a.received_at,
            }
            for a in arrivals
        ],
    )


@functools.cache
def _insert_once(dialect: str) -> Insert:
    # Built once per dialect, so SQLAlchemy's compiled cache serves every call.
    insert_into = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert_into(PendingCommand).on_conflict_do_nothing(index_elements=["delivery_key"])


async def waiting(session: AsyncSession, platform: str, limit: int) -> list[Accepted]:
    """The oldest commands not yet carried out (nothing is claimed by reading)."""
    rows = await session.execute(
        select(
            PendingCommand.id,
            PendingCommand.platform,
            PendingCommand.workspace,
            PendingCommand.user_id,
            PendingCommand.text,
            PendingCommand.reply_address,
            PendingCommand.received_at,
            PendingCommand.delivery_key,
            InboundKey.key.is_not(None),
        )
        .outerjoin(InboundKey, InboundKey.key == _done_key_sql())
        .where(PendingCommand.platform == platform)
        .order_by(PendingCommand.id)
        .limit(limit)
    )
    return [Accepted(*row) for row in rows]


def _done_key(command: Accepted) -> str:
    """The inbound key that says a command was carried out."""
    return f"command:{command.platform}:{command.delivery_key}"[:_INBOUND_KEY_MAX]


def _done_key_sql() -> ColumnElement[str]:
    """`_done_key` of a pending command, in SQL."""
    return func.substr(
        literal("command:") + PendingCommand.platform + literal(":") + PendingCommand.delivery_key,
        1,
        _INBOUND_KEY_MAX,
    )


async def take(session: AsyncSession, command: Accepted, *, carried_out: bool = True) -> bool:
    """Claim a command for this transaction; False when another process took it.

    Unless it is a repeat, or is given up on (`carried_out=False`, so a delivery of
    it again is tried afresh), its delivery key is kept as done, in this transaction.
    """
    taken = await session.scalar(
        delete(PendingCommand).where(PendingCommand.id == command.id).returning(PendingCommand.id)
    )
    if taken is None:
        return False
    if carried_out and not command.repeat:
        session.add(InboundKey(key=_done_key(command), seen_at=command.received_at))
        # Here, not inside the work's savepoint: a repeat read before its first
        # delivery was carried out fails the whole transaction, and is recognised
        # as a repeat when it is read again.
        await session.flush()
    return True


async def failed(session: AsyncSession, command: Accepted) -> int:
    """Count a failed attempt at a command; how many it has had so far."""
    attempts = await session.scalar(
        update(PendingCommand)
        .where(PendingCommand.id == command.id)
        .values(attempts=PendingCommand.attempts + 1)
        .returning(PendingCommand.attempts)
    )
    return int(attempts or 0)


async def count_waiting(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(PendingCommand)) or 0)
