"""The inbox recognises a command delivered again after it was carried out.

Slack sends a Socket Mode envelope again when its acknowledgement was lost; by
then the first delivery has left the inbox (taking it deletes the row), so the
inbox's unique key alone would store it, and the pump file it, a second time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app import build_engine, build_sessions
from handlers import inbox

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    built = build_engine(database_url)
    try:
        yield built
    finally:
        await built.dispose()


def arrival(key: str) -> inbox.Arrival:
    return inbox.Arrival(
        platform="slack",
        delivery_key=key,
        workspace="T0TEAM",
        user_id="U0SAM",
        text="it Printer on fire",
        reply_address="https://hooks.slack.test/commands/1",
        received_at=NOW,
    )


async def deliver(engine: AsyncEngine, key: str) -> list[inbox.Accepted]:
    """The command arrives (again); what the pump then finds waiting."""
    async with engine.begin() as connection:
        await inbox.accept(connection, [arrival(key)])
    async with build_sessions(engine)() as session:
        return await inbox.waiting(session, "slack", 10)


async def take(engine: AsyncEngine, command: inbox.Accepted, **how: bool) -> bool:
    async with build_sessions(engine).begin() as session:
        return await inbox.take(session, command, **how)


@pytest.mark.parametrize("key", ["trigger-1", "t" * 200])
async def test_a_command_carried_out_and_delivered_again_is_a_repeat(
    engine: AsyncEngine, key: str
) -> None:
    [first] = await deliver(engine, key)
    assert (first.delivery_key, first.repeat) == (key, False)
    # Delivered twice while it waits: stored once.
    assert await deliver(engine, key) == [first]
    assert await take(engine, first) is True

    [again] = await deliver(engine, key)
    assert again.repeat is True
    assert await take(engine, again) is True  # taken without acting: no second key
    # Another command is no repeat of it.
    [other] = await deliver(engine, "trigger-2")
    assert (other.delivery_key, other.repeat) == ("trigger-2", False)


async def test_a_command_given_up_on_is_tried_afresh_when_delivered_again(
    engine: AsyncEngine,
) -> None:
    [first] = await deliver(engine, "trigger-1")
    assert await take(engine, first, carried_out=False) is True
    [again] = await deliver(engine, "trigger-1")
    assert again.repeat is False
