"""The real app on a free port in Teams local mode, replies landing on a fake connector."""

from __future__ import annotations

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
from models.requests import Request
from models.settings import Settings
from tests.adapters.teams.driver import IT_CHANNEL, TeamsDriver
from tests.adapters.waiting import eventually
from tests.fakes.bot_connector import FakeConnector

CATALOG = f"""
calendars:
  always: 24x7
people:
  - {{email: sam@example.com, name: Sam Sales, department: Sales, teams: "29:sam"}}
  - {{email: alice@example.com, name: Alice IT, department: Operations, teams: "29:alice"}}
  - {{email: bob@example.com, name: Bob IT, department: Operations, teams: "29:bob"}}
  - {{email: fay@example.com, name: Fay Finance, department: Finance, teams: "29:fay"}}
teams:
  - key: it
    name: IT Service Desk
    teams_channel: "{IT_CHANNEL}"
    members: [alice@example.com, bob@example.com]
    calendar: always
    categories: [Hardware, Software]
    standards:
      normal: {{first_response: 4h, resolution: 3d}}
  - key: finance
    name: Finance
    prefix: FIN
    members: [fay@example.com]
    calendar: always
    standards:
      normal: {{first_response: 1h, resolution: 8h}}
survey: {{scale: 5, reopen_below: 3, auto_close_after: 3d}}
"""


@dataclass
class TeamsWorld:
    connector: FakeConnector
    driver: TeamsDriver
    runtime: Runtime

    async def deliver(self) -> None:
        await self.runtime.dispatch()

    async def request(self, key: str) -> Request:
        async with self.runtime.sessions() as session:
            found = await session.scalar(select(Request).where(Request.key == key))
            assert found is not None, f"{key} was not filed"
            return found

    async def eventually(self, check: Callable[[], Any]) -> None:
        await eventually(check)

    def to(self, conversation: str) -> list[Any]:
        """What the bot sent into a conversation, oldest first (updates applied)."""
        return self.connector.activities_in(conversation)

    def channel_posts(self) -> list[Any]:
        return [s for s in self.connector.sent if s.conversation_id.startswith(IT_CHANNEL)]


async def start_app(
    settings: Settings, port: int, clock: Clock | None = None
) -> tuple[Runtime, web.AppRunner]:
    runtime = await build_runtime(settings, clock)
    runner = web.AppRunner(runtime.web)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runtime, runner


@pytest.fixture
async def teams(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[TeamsWorld]:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    async with FakeConnector() as connector:
        for user in ("sam", "alice", "bob", "fay"):
            connector.add_member(
                f"aad-{user}", id=f"29:{user}", name=user.title(), email=f"{user}@example.com"
            )
        runtime, runner = await start_app(
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=f"sqlite+aiosqlite:///{database}",
            ),
            unused_tcp_port,
        )
        async with runtime.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "teams-test.yaml"))
        driver = TeamsDriver(f"http://127.0.0.1:{unused_tcp_port}", connector.url)
        try:
            yield TeamsWorld(connector, driver, runtime)
        finally:
            await runner.cleanup()
            await runtime.close()
