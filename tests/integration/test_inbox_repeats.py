"""The inbox recognises a command delivered again after it was carried out.

Slack sends a Socket Mode envelope again when its acknowledgement was lost; by
then the first delivery was carried out. Its row stays, marked done, so the
delivery key's unique index catches the repeat, which waits again to be answered
(not carried out), until the row is forgotten a day later.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app import build_engine, build_sessions
from handlers import inbox
from models.inbox import PendingCommand

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    built = build_engine(database_url)
    try:
        yield built
    finally:
        await built.dispose()


def arrival(key: str, address: str = "https://hooks.slack.test/commands/1") -> inbox.Arrival:
    return inbox.Arrival(
        platform="slack",
        delivery_key=key,
        workspace="T0TEAM",
        user_id="U0SAM",
        text="it Printer on fire",
        reply_address=address,
        received_at=NOW,
    )


async def deliver(engine: AsyncEngine, key: str, **how: str) -> list[inbox.Accepted]:
    """The command arrives (again); what the pump then finds waiting."""
    async with engine.begin() as connection:
        await inbox.accept(connection, [arrival(key, **how)])
    async with build_sessions(engine)() as session:
        return await inbox.waiting(session, "slack", 10)


async def take(engine: AsyncEngine, command: inbox.Accepted, at: datetime = NOW) -> bool:
    async with build_sessions(engine).begin() as session:
        return await inbox.take(session, command, at)


async def give_up(engine: AsyncEngine, command: inbox.Accepted) -> bool:
    async with build_sessions(engine).begin() as session:
        return await inbox.give_up(session, command)


async def forget(engine: AsyncEngine, now: datetime) -> int:
    async with build_sessions(engine).begin() as session:
        return await inbox.forget_done(session, now)


@pytest.mark.parametrize("key", ["trigger-1", "t" * 200])
async def test_a_command_carried_out_and_delivered_again_is_a_repeat(
    engine: AsyncEngine, key: str
) -> None:
    [first] = await deliver(engine, key)
    assert (first.delivery_key, first.repeat) == (key, False)
    # Delivered twice while it waits: stored once.
    assert await deliver(engine, key) == [first]
    assert await take(engine, first) is True
    assert await take(engine, first) is False  # another process cannot take it again
    [other] = await deliver(engine, "trigger-0")  # the done one no longer waits
    assert await take(engine, other) is True

    second_address = "https://hooks.slack.test/commands/2"
    [again] = await deliver(engine, key, address=second_address)
    assert (again.id, again.repeat) == (first.id, True)
    # Answered at the repeat's own address, which is still valid.
    assert again.reply_address == second_address
    assert await take(engine, again) is True  # answered without acting
    # Another command is no repeat of it.
    [other] = await deliver(engine, "trigger-2")
    assert (other.delivery_key, other.repeat) == ("trigger-2", False)


async def test_a_read_overtaken_by_another_take_never_carries_out_the_repeat(
    engine: AsyncEngine,
) -> None:
    """Two replicas read the same command; one carries it out; Slack sends it again
    before the other gets to it. The other's read is stale: it must not take the row
    that now waits as a repeat (it would file the request a second time)."""
    [mine] = await deliver(engine, "trigger-1")
    [theirs] = await deliver(engine, "trigger-1")
    assert await take(engine, theirs) is True
    [again] = await deliver(engine, "trigger-1")
    assert again.repeat is True
    assert await take(engine, mine) is False
    assert await give_up(engine, mine) is False
    # The repeat is still there to be answered.
    assert await take(engine, again) is True


async def test_a_command_given_up_on_is_tried_afresh_when_delivered_again(
    engine: AsyncEngine,
) -> None:
    [first] = await deliver(engine, "trigger-1")
    assert await give_up(engine, first) is True
    [again] = await deliver(engine, "trigger-1")
    assert again.repeat is False


async def test_a_done_command_keeps_nothing_typed_and_is_forgotten_after_a_day(
    engine: AsyncEngine,
) -> None:
    [first] = await deliver(engine, "trigger-1")
    assert await take(engine, first) is True
    async with engine.connect() as connection:
        kept = (await connection.execute(select(PendingCommand))).one()
    assert (kept.text, kept.reply_address, kept.user_id) == ("", "", "")
    assert kept.done_at is not None

    assert await forget(engine, NOW + inbox.DONE_KEPT) == 0  # not yet
    assert await forget(engine, NOW + inbox.DONE_KEPT + timedelta(seconds=1)) == 1
    # Forgotten: a delivery of it now is filed afresh (Slack repeats within minutes).
    [again] = await deliver(engine, "trigger-1")
    assert again.repeat is False


async def test_a_waiting_command_is_never_forgotten(engine: AsyncEngine) -> None:
    [first] = await deliver(engine, "trigger-1")
    assert await forget(engine, NOW + timedelta(days=30)) == 0
    assert await deliver(engine, "trigger-1") == [first]
