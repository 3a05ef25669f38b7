"""Times and languages in Teams: channel cards let Teams show each member their own
time; a changed locale or time zone counts from the next activity; German and
Italian readers meet no English. The world runs on a ManualClock."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.profiles import PROFILE_TTL
from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.clock import ManualClock
from models.directory import Person
from models.settings import Settings
from tests.adapters.dispatching import NudgedDispatch
from tests.adapters.teams.conftest import CATALOG, TeamsWorld, start_app
from tests.adapters.teams.driver import TeamsDriver
from tests.fakes.bot_connector import FakeConnector

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday, 10:00 in Berlin

# What Teams formats on the reader's device, in their zone and locale.
TEAMS_DATE = re.compile(r"\{\{DATE\((?P<at>[0-9T:\-]+Z), SHORT\)\}\} \{\{TIME\((?P=at)\)\}\}")

ENGLISH = (
    "<what you need>",
    " text",
    "[question]",
    "what was done",
    "[why]",
    "[comment]",
    "urgent|high",
    "aims to",
    "respond by",
    "Filed",
)


@pytest.fixture
async def teams(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[tuple[TeamsWorld, ManualClock]]:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    clock = ManualClock(START)
    async with FakeConnector() as connector:
        for user in ("sam", "alice", "bob", "fay", "hans", "giulia"):
            connector.add_member(
                f"aad-{user}", id=f"29:{user}", name=user.title(), email=f"{user}@example.com"
            )
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{database}",
            inhouse_teams_local=True,  # the Agents Playground's mode, on loopback
        )
        runtime, runner = await start_app(settings, unused_tcp_port, clock)
        dispatcher = NudgedDispatch(runtime)
        runtime.nudge = dispatcher.nudge
        async with runtime.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "teams-test.yaml"))
        driver = TeamsDriver(
            f"http://127.0.0.1:{unused_tcp_port}", connector.url, settle=dispatcher.settled
        )
        try:
            yield TeamsWorld(connector, driver, runtime, dispatcher), clock
        finally:
            await runner.cleanup()
            await dispatcher.stop()
            await runtime.close()


def text_of(activity: dict) -> str:
    return str(activity.get("attachments") or activity.get("text"))


async def test_the_channel_card_lets_teams_show_each_member_their_own_time(
    teams: tuple[TeamsWorld, ManualClock],
) -> None:
    world, _clock = teams
    await world.driver.install_in_team("alice")
    await world.driver.say("sam", "request it Printer on fire")
    await world.deliver()
    posted = [s for s in world.channel_posts() if s.op in ("send", "reply")][-1]
    texts = [b.get("text", "") for b in posted.activity["attachments"][0]["content"]["body"]]
    due = next(t for t in texts if "respond by" in t)
    shown = TEAMS_DATE.search(due)
    assert shown, due
    expected = (await world.request("IT-1")).first_response_due_at
    assert datetime.fromisoformat(shown["at"]) == expected == START.replace(hour=13)


async def test_a_changed_locale_or_zone_counts_from_the_next_activity(
    teams: tuple[TeamsWorld, ManualClock],
) -> None:
    world, clock = teams
    driver = world.driver
    await driver.post(
        driver.activity(
            "message", "hans", text="request it Printer", locale="en-US", localTimezone="UTC"
        )
    )
    first = text_of(world.to("a:1hans")[-1])
    assert "Filed IT-1" in first and "respond by Tue 13:00" in first
    # Hans switches Teams to German and travels to New York: the very next message.
    await driver.post(
        driver.activity(
            "message",
            "hans",
            text="request it Drucker",
            locale="de-DE",
            localTimezone="America/New_York",
        )
    )
    second = text_of(world.to("a:1hans")[-1])
    assert "Anfrage IT-2 eingereicht" in second and "antwortet bis Di., 08:00" in second
    async with world.runtime.sessions() as session:
        hans = await session.scalar(select(Person).where(Person.teams_user_id == "29:hans"))
        assert hans is not None and hans.email == "hans@example.com"
        assert (hans.language, hans.timezone) == ("de-DE", "America/New_York")
    # The roster is asked for the email once, not per message; after the refresh
    # period the stored person has it, and the activity still decides the language.
    assert len(world.connector.requests_for("get_member")) == 1
    clock.advance(PROFILE_TTL)
    await driver.post(driver.activity("message", "hans", text="elenco", locale="it-IT"))
    assert "Hai 2 richieste aperte" in text_of(world.to("a:1hans")[-1])
    assert len(world.connector.requests_for("get_member")) == 1


async def test_german_and_italian_readers_meet_no_english_in_teams(
    teams: tuple[TeamsWorld, ManualClock],
) -> None:
    world, _clock = teams
    driver = world.driver
    for user, locale, zone, words in (
        ("hans", "de-DE", "Europe/Berlin", ("hilfe", "request it Drucker brennt", "liste")),
        ("giulia", "it-IT", "Europe/Rome", ("aiuto", "request it Stampante rotta", "elenco")),
    ):
        said = []
        for line in words:
            await driver.post(
                driver.activity("message", user, text=line, locale=locale, localTimezone=zone)
            )
            said.append(text_of(world.to(f"a:1{user}")[-1]))
        found = [w for w in ENGLISH if w in "\n".join(said)]
        assert not found, (user, found, said)
