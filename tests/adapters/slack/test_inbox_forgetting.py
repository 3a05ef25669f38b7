"""The serving desk forgets carried-out quick-files after a day, and nothing else.

A carried-out command keeps its row (no text, no reply address) so that Slack
sending it again is answered as a repeat (handlers.inbox). The command pump of the
running desk deletes such rows once they are older than DONE_KEPT: here it is told
to look every 0.1 s instead of every hour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.slack import command_pump
from handlers.inbox import DONE_KEPT
from models.inbox import PendingCommand
from tests.adapters.slack.conftest import SlackWorld, running
from tests.adapters.waiting import eventually


@pytest.fixture
async def world(
    tmp_path: Path,
    sqlite_template: Path,
    unused_tcp_port: int,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SlackWorld]:
    monkeypatch.setattr(command_pump, "FORGET_EVERY", 0.1)
    async with running(
        tmp_path, sqlite_template, unused_tcp_port, database_url=database_url
    ) as world:
        yield world


def done(key: str, at: datetime) -> PendingCommand:
    return PendingCommand(
        platform="slack",
        delivery_key=key,
        workspace=None,
        user_id="",
        text="",
        reply_address="",
        received_at=at,
        done_at=at,
    )


async def keys(world: SlackWorld) -> list[str]:
    async with world.runtime.sessions() as session:
        found = await session.scalars(
            select(PendingCommand.delivery_key).order_by(PendingCommand.delivery_key)
        )
        return list(found)


async def test_done_commands_older_than_a_day_are_forgotten(world: SlackWorld) -> None:
    now = world.runtime.clock.now()
    async with world.runtime.sessions.begin() as session:
        session.add_all(
            [
                done("a-day-and-a-bit", now - DONE_KEPT - DONE_KEPT / 24),
                done("an-hour", now - DONE_KEPT / 24),
            ]
        )
    answer = await world.say("U0SAM", "it Printer on fire")
    assert "Filed IT-1" in answer

    async def forgotten() -> bool:
        return "a-day-and-a-bit" not in await keys(world)

    await eventually(forgotten)
    # The recent one and the command just filed stay: a repeat of them is recognised.
    assert len(await keys(world)) == 2 and "an-hour" in await keys(world)
