"""The inbox of accepted commands: store one fast, take them in order.

See models.inbox for why a command waits here between the acknowledgement and
the work. Taking a command marks it done in the caller's transaction, the one that
carries it out: the command and its effects land together, so it is done once,
even with several processes taking from the same inbox. The done row keeps its
delivery key (and nothing the person typed) for DONE_KEPT, so the platform
delivering the same command again after it was carried out (Slack sends a Socket
Mode envelope again when its acknowledgement was lost) is recognised as a repeat,
not done twice.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from models.inbox import DELIVERY_KEY_MAX, PendingCommand

# How long a carried-out command's delivery key is kept to recognise a repeat.
# Slack sends an unacknowledged Socket Mode envelope again within minutes, and
# never repeats a slash command over HTTP; a day is ample, and then the row goes.
DONE_KEPT = timedelta(days=1)


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
    """Store commands for the pump, in one statement. A delivery still waiting is
    skipped (its key is unique); one already carried out waits again, as a repeat.

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
    statement = insert_into(PendingCommand)
    arrived = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["delivery_key"],
        # The repeat is answered at its own reply address, in its sender's language.
        set_={
            "done_at": None,
            "repeat": True,
            "attempts": 0,
            "workspace": arrived.workspace,
            "user_id": arrived.user_id,
            "text": arrived.text,
            "reply_address": arrived.reply_address,
            "received_at": arrived.received_at,
        },
        where=PendingCommand.done_at.is_not(None),
    )


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
            PendingCommand.repeat,
        )
        .where(PendingCommand.platform == platform, PendingCommand.done_at.is_(None))
        .order_by(PendingCommand.id)
        .limit(limit)
    )
    return [Accepted(*row) for row in rows]


async def take(session: AsyncSession, command: Accepted, now: datetime) -> bool:
    """Claim a command for this transaction, which carries it out (or answers it as
    a repeat); False when another process took it. It is marked done and emptied of
    what the person typed, in one statement."""
    taken = await session.scalar(
        update(PendingCommand)
        .where(*_still_as_read(command))
        .values(done_at=now, repeat=False, text="", reply_address="", user_id="")
        .returning(PendingCommand.id)
    )
    return taken is not None


async def give_up(session: AsyncSession, command: Accepted) -> bool:
    """Claim a command that will not be carried out; False when another process took
    it. Deleted, so a delivery of it again is tried afresh."""
    taken = await session.scalar(
        delete(PendingCommand).where(*_still_as_read(command)).returning(PendingCommand.id)
    )
    return taken is not None


def _still_as_read(command: Accepted) -> tuple[ColumnElement[bool], ...]:
    """The command's row, if it still waits as it was read. A read that another
    process's take overtook may meet the row waiting again as a repeat of itself
    (Slack sent it again since): that read must not carry it out a second time."""
    return (
        PendingCommand.id == command.id,
        PendingCommand.done_at.is_(None),
        PendingCommand.repeat.is_(command.repeat),
    )


async def failed(session: AsyncSession, command: Accepted) -> int:
    """Count a failed attempt at a command; how many it has had so far."""
    attempts = await session.scalar(
        update(PendingCommand)
        .where(*_still_as_read(command))
        .values(attempts=PendingCommand.attempts + 1)
        .returning(PendingCommand.attempts)
    )
    return int(attempts or 0)


async def count_waiting(session: AsyncSession) -> int:
    waiting = select(func.count()).where(PendingCommand.done_at.is_(None))
    return int(await session.scalar(waiting) or 0)


async def forget_done(session: AsyncSession, now: datetime) -> int:
    """Delete the rows of commands carried out more than DONE_KEPT ago; how many."""
    gone = await session.scalars(
        delete(PendingCommand)
        .where(PendingCommand.done_at.is_not(None), PendingCommand.received_at < now - DONE_KEPT)
        .returning(PendingCommand.id)
    )
    return len(gone.all())
