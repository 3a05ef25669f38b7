"""The real app on a free port in Teams local mode (turned on explicitly, as an operator
would for the Agents Playground), replies landing on a fake connector on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from app import Runtime, build_runtime
from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.clock import Clock
from models.directory import Person
from models.outbox import ConversationAddress, InboundKey, OutboxMessage
from models.requests import Request
from models.settings import Settings
from tests.adapters.dispatching import NudgedDispatch
from tests.adapters.teams.driver import IT_CHANNEL, TeamsDriver
from tests.adapters.waiting import eventually
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.bot_tokens import FakeBotTokens
from tests.fakes.entra_id import FakeEntraID

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
    # The dispatch loop as `serve` runs it: nudged by the bot once it queued an
    # answer; the driver waits for it to settle after each activity.
    dispatcher: NudgedDispatch

    async def deliver(self) -> Any:
        """Run the outbox dispatcher once, as the scheduler would; its report."""
        return await self.dispatcher.run()

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

    async def stored(self) -> dict[str, int]:
        """How many rows the tables an activity may write hold: an activity that is
        refused must leave every one of these as it was."""
        return await stored_rows(self.runtime)


async def stored_rows(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {
            table.__tablename__: int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
            for table in (ConversationAddress, Person, Request, OutboxMessage, InboundKey)
        }


async def start_app(
    settings: Settings,
    port: int,
    clock: Clock | None = None,
    host: str = "127.0.0.1",
    unix_path: str | None = None,
) -> tuple[Runtime, web.AppRunner]:
    """The app on `host`:`port`, and also on a Unix socket when `unix_path` is given
    (a caller there has no IP address at all: not this machine's loopback)."""
    runtime = await build_runtime(settings, clock)
    runner = web.AppRunner(runtime.web)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    if unix_path is not None:
        await web.UnixSite(runner, unix_path).start()
    return runtime, runner


def staff(connector: FakeConnector) -> None:
    """The catalog's people on the connector's roster, with their emails."""
    for user in ("sam", "alice", "bob", "fay"):
        connector.add_member(
            f"aad-{user}", id=f"29:{user}", name=user.title(), email=f"{user}@example.com"
        )


@asynccontextmanager
async def running(
    database_url: str,
    port: int,
    connector: FakeConnector,
    unix_path: str | None = None,
    **settings: Any,
) -> AsyncIterator[TeamsWorld]:
    """The app with the catalog applied, on 127.0.0.1:`port` (and `unix_path`),
    with these settings."""
    runtime, runner = await start_app(
        Settings(_env_file=None, database_url=database_url, **settings),  # type: ignore[call-arg]
        port,
        unix_path=unix_path,
    )
    dispatcher = NudgedDispatch(runtime)
    runtime.nudge = dispatcher.nudge
    try:
        async with runtime.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "teams-test.yaml"))
        driver = TeamsDriver(f"http://127.0.0.1:{port}", connector.url, settle=dispatcher.settled)
        yield TeamsWorld(connector, driver, runtime, dispatcher)
    finally:
        await runner.cleanup()
        await dispatcher.stop()
        await runtime.close()


@pytest.fixture
async def teams(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[TeamsWorld]:
    """Local mode, turned on as an operator would for the Agents Playground."""
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    async with FakeConnector() as connector:
        staff(connector)
        async with running(
            f"sqlite+aiosqlite:///{database}", unused_tcp_port, connector, inhouse_teams_local=True
        ) as world:
            yield world


@pytest.fixture
async def local_teams(database_url: str, unused_tcp_port: int) -> AsyncIterator[TeamsWorld]:
    """Local mode on SQLite and on PostgreSQL (what is stored is what is checked)."""
    async with FakeConnector() as connector:
        staff(connector)
        async with running(
            database_url, unused_tcp_port, connector, inhouse_teams_local=True
        ) as world:
            yield world


# --- authenticated mode: real tokens from fake token services -----------------------------

APP_ID = "00000000-0000-0000-0000-0000000000b0"
APP_SECRET = "the-bots-client-secret"
TENANT_ID = "tenant-1"


@dataclass
class SignedTeams:
    """The app with MICROSOFT_APP_ID: activities carry channel tokens from `tokens`,
    the bot gets its own from `entra`, and the connector accepts only those."""

    world: TeamsWorld
    tokens: FakeBotTokens
    entra: FakeEntraID

    def token(self, activity: dict[str, Any], **changes: Any) -> str:
        return self.tokens.token(app_id=APP_ID, service_url=activity["serviceUrl"], **changes)

    async def post_with(self, activity: dict[str, Any], token: str | None) -> int:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return (await self.world.driver.post(activity, headers=headers)).status


@pytest.fixture
async def signed_teams(
    database_url: str, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SignedTeams]:
    async with FakeBotTokens() as tokens, FakeEntraID() as entra:
        entra.register(APP_ID, APP_SECRET, TENANT_ID)
        for name, value in entra.environment().items():
            monkeypatch.setenv(name, value)
            monkeypatch.setenv(name.lower(), value)  # urllib reads both spellings
        async with FakeConnector(
            authorize=lambda header: entra.problem(header, APP_ID)
        ) as connector:
            staff(connector)
            async with running(
                database_url,
                unused_tcp_port,
                connector,
                microsoft_app_id=APP_ID,
                microsoft_app_password=APP_SECRET,
                microsoft_app_tenant_id=TENANT_ID,
                microsoft_openid_metadata_url=tokens.metadata_url,
            ) as world:
                world.driver.sign = lambda activity: tokens.token(
                    app_id=APP_ID, service_url=activity["serviceUrl"]
                )
                yield SignedTeams(world, tokens, entra)
