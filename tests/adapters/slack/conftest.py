"""The real app on a free port, its Slack Web API calls landing on a fake Slack."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from app import Runtime, build_runtime
from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.clock import Clock
from models.outbox import OutboxMessage
from models.requests import Request
from models.settings import Settings
from tests.adapters.dispatching import NudgedDispatch
from tests.adapters.slack.driver import Answer, SlackDriver
from tests.adapters.waiting import eventually
from tests.fakes.slack_api import FakeSlack

SECRET = "test-signing-secret"

CATALOG = """
calendars:
  always: 24x7
people:
  - {email: sam@example.com, name: Sam Sales, department: Sales, slack: U0SAM}
  - {email: alice@example.com, name: Alice IT, department: Operations, slack: U0ALICE}
  - {email: bob@example.com, name: Bob IT, department: Operations, slack: U0BOB}
  - {email: carol@example.com, name: Carol Lead, department: Operations}
  - {email: fay@example.com, name: Fay Finance, department: Finance, slack: U0FAY}
teams:
  - key: it
    name: IT Service Desk
    aliases: [helpdesk]
    slack_channel: C0ITDESK
    members: [alice@example.com, bob@example.com]
    leads: [carol@example.com]
    calendar: always
    categories: [Hardware, Software, Access]
    standards:
      urgent: {first_response: 30m, resolution: 4h}
      normal: {first_response: 4h, resolution: 3d}
    escalation:
      - {after: 0m, notify: [leads], urgent: true}
  - key: finance
    name: Finance
    prefix: FIN
    slack_channel: C0FIN
    members: [fay@example.com]
    calendar: always
    standards:
      normal: {first_response: 1h, resolution: 8h}
survey: {scale: 5, reopen_below: 3, auto_close_after: 3d}
"""

USERS = {
    "U0SAM": ("sam@example.com", "Sam Sales", "Europe/Berlin"),
    "U0ALICE": ("alice@example.com", "Alice IT", "Europe/Berlin"),
    "U0BOB": ("bob@example.com", "Bob IT", "Europe/Rome"),
    "U0CAROL": ("carol@example.com", "Carol Lead", "Europe/Berlin"),
    "U0FAY": ("fay@example.com", "Fay Finance", "Europe/Berlin"),
    "U0NEW": ("newbie@example.com", "New Person", "America/New_York"),
}


@dataclass
class SlackWorld:
    fake: FakeSlack
    driver: SlackDriver
    runtime: Runtime
    dispatcher: NudgedDispatch

    async def answer(self, sent: Answer) -> str:
        """What the person finally reads for a command: a quick-file is acknowledged
        with "Filing…" and answered at its response_url once the pump has filed it."""
        assert sent.status == 200, sent
        acknowledgement = sent.json["text"] if sent.text else ""
        if not acknowledgement.startswith("⏳"):
            return str(acknowledgement)
        assert sent.response_url is not None
        posted = self.fake.responses[sent.response_url]
        await eventually(lambda: posted)
        await self.dispatcher.settled()  # what the pump's nudge started is done
        assert len(posted) == 1, posted
        assert posted[0]["replace_original"] is True
        assert posted[0]["response_type"] == "ephemeral"
        return str(posted[0]["text"])

    async def say(self, user: str, text: str) -> str:
        """`/request <text>` as this person; the answer they finally read."""
        return await self.answer(await self.driver.command(user, text))

    async def filed_while_held(self, user: str, text: str, key: str) -> None:
        """`/request <text>`, filed by the pump with the dispatch loop held: its card
        is queued, not sent, when the test goes on (release it with
        `dispatcher.held = False`). Held, not refused with a 503: the retry of a
        refused card comes 0.5-2 s later, and on a loaded machine the test's next
        step can come later than that."""
        self.dispatcher.held = True
        await self.dispatcher.settled()
        sent = await self.driver.command(user, text)
        assert sent.status == 200, sent

        async def queued() -> bool:
            async with self.runtime.sessions() as session:
                return key in {
                    message.payload.get("request", {}).get("key")
                    for message in await session.scalars(select(OutboxMessage))
                }

        await eventually(queued)

    async def deliver(self) -> Any:
        """Run the outbox dispatcher once, as the scheduler would; its report."""
        return await self.dispatcher.run()

    async def request(self, key: str) -> Request:
        async with self.runtime.sessions() as session:
            found = await session.scalar(select(Request).where(Request.key == key))
            assert found is not None, f"{key} was not filed"
            return found

    async def count(self) -> int:
        async with self.runtime.sessions() as session:
            return len(list(await session.scalars(select(Request.id))))

    async def eventually(self, check: Callable[[], Any]) -> None:
        await eventually(check)

    def card(self, channel: str = "C0ITDESK") -> Any:
        """The newest top-level message in a channel (the team card)."""
        top = [m for m in self.fake.messages.get(channel, []) if m.thread_ts in (None, m.ts)]
        assert top, f"nothing posted in {channel}"
        return top[-1]

    def dms(self, user: str) -> list[Any]:
        return self.fake.messages.get(f"D{user}", [])


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    sqlite_template: Path,
    port: int,
    clock: Clock | None = None,
    database_url: str | None = None,
    **settings: Any,
) -> AsyncIterator[SlackWorld]:
    """The app serving on `port` against a fresh fake Slack; `settings` add to the
    Settings the world is built with (e.g. `slack_app_token` for Socket Mode),
    `clock` (e.g. a ManualClock a test moves) replaces the system clock, and
    `database_url` (a migrated, empty database) the SQLite file."""
    if database_url is None:
        database = tmp_path / "inhouse.db"
        shutil.copy(sqlite_template, database)
        database_url = f"sqlite+aiosqlite:///{database}"
    async with FakeSlack() as fake:
        for user_id, (email, name, tz) in USERS.items():
            fake.add_user(user_id, email=email, real_name=name, name=name, tz=tz)
        for channel in ("C0ITDESK", "C0FIN", "C0GENERAL"):
            fake.add_channel(channel)
        for user_id in USERS:
            # The DM each person already has with the bot (the app's Messages tab).
            fake.add_channel(f"D{user_id}", members=[user_id, fake.bot_user_id])
        config = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            slack_bot_token=fake.token,
            slack_signing_secret=settings.pop("slack_signing_secret", SECRET),
            slack_api_url=fake.url,
            **settings,
        )
        runtime = await build_runtime(config, clock)
        dispatcher = NudgedDispatch(runtime)
        runtime.nudge = dispatcher.nudge
        async with runtime.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "slack-test.yaml"))
        runner = web.AppRunner(runtime.web)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        driver = SlackDriver(
            f"http://127.0.0.1:{port}",
            SECRET,
            fake.new_trigger_id,
            fake.new_response_url,
        )
        try:
            yield SlackWorld(fake, driver, runtime, dispatcher)
        finally:
            await runner.cleanup()
            await dispatcher.stop()
            await runtime.close()


@pytest.fixture
async def slack(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[SlackWorld]:
    async with running(tmp_path, sqlite_template, unused_tcp_port) as world:
        yield world
