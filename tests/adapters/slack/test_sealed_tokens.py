"""Slack OAuth tokens are encrypted at rest, end to end.

A workspace installs through the real /slack/install and /slack/oauth_redirect pages
(the fake Slack plays the consent page and oauth.v2.access); the desk is restarted
the way an operator would, the key rotated with the real `inhouse secrets rotate`
process, and each time the test reads the raw rows, as someone holding a copy of
the database would, and what the fake Slack saw the desk post with.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from sqlalchemy import text

from app import build_engine, build_runtime, build_sessions
from bot.slack import install_tables
from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.settings import Settings
from tests.adapters.dispatching import NudgedDispatch
from tests.adapters.slack.conftest import CATALOG, SECRET, USERS, SlackWorld
from tests.adapters.slack.driver import SlackDriver
from tests.e2e.cli import Inhouse
from tests.fakes.slack_api import FakeSlack
from tests.ports import free_port

UNDELIVERED = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND request_id IS NOT NULL"


def slack_like_token() -> str:
    """A bot token shaped like Slack's, unique to the test so any copy of it is found."""
    digits = "".join(secrets.choice("0123456789") for _ in range(13))
    return f"xoxb-{digits}-{digits[::-1]}-{secrets.token_hex(12)}"


def new_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=slack_like_token()) as slack:
        for user_id, (email, name, tz) in USERS.items():
            slack.add_user(user_id, email=email, real_name=name, name=name, tz=tz)
        for channel in ("C0ITDESK", "C0FIN", "C0GENERAL"):
            slack.add_channel(channel)
        for user_id in USERS:
            slack.add_channel(f"D{user_id}", members=[user_id, slack.bot_user_id])
        yield slack


@pytest.fixture
async def desk_db(database_url: str) -> str:
    """The desk's database with the test catalog applied."""
    engine = build_engine(database_url)
    try:
        async with build_sessions(engine).begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "slack-test.yaml"))
    finally:
        await engine.dispose()
    return database_url


@asynccontextmanager
async def serving(database_url: str, fake: FakeSlack, key: str) -> AsyncIterator[SlackWorld]:
    """`inhouse serve` in OAuth mode with INHOUSE_SECRET_KEY=key, on a free port."""
    runtime = await build_runtime(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            slack_signing_secret=SECRET,
            slack_client_id=fake.client_id,
            slack_client_secret=fake.client_secret,
            slack_api_url=fake.url,
            inhouse_secret_key=key,  # type: ignore[arg-type]
        )
    )
    port = free_port()
    runner = web.AppRunner(runtime.web)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    driver = SlackDriver(
        f"http://127.0.0.1:{port}", SECRET, fake.new_trigger_id, fake.new_response_url
    )
    dispatcher = NudgedDispatch(runtime)
    runtime.nudge = dispatcher.nudge
    try:
        yield SlackWorld(fake, driver, runtime, dispatcher)
    finally:
        await runner.cleanup()
        await dispatcher.stop()
        await runtime.close()


async def install(world: SlackWorld, *, team: str | None = None, user: str = "U0CAROL") -> None:
    """A workspace admin (`user`, of workspace `team`: by default the fake's first)
    opens the install page, approves on Slack, comes back."""
    base = world.driver.base_url
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{base}/slack/install", allow_redirects=False) as page:
            body = await page.text()
            authorize = page.headers.get("Location") or _link(body)
            # The state cookie is Secure (the real app is behind https): the browser
            # sends it back to the redirect URL; here that is done by hand over http.
            cookies = {name: morsel.value for name, morsel in page.cookies.items()}
        code = world.fake.approve_install(authorize, user=user, team=team)
        state = re.search(r"[?&]state=([^&]+)", authorize)
        assert state, authorize
        async with browser.get(
            f"{base}/slack/oauth_redirect",
            params={"code": code, "state": state.group(1)},
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
        ) as done:
            assert done.status == 200, await done.text()
    assert world.fake.calls_to("oauth.v2.access")[-1].ok


def _link(page: str) -> str:
    found = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


async def raw_values(world: SlackWorld) -> list[str]:
    """Every non-empty value in every row of slack_bots and slack_installations."""
    values = []
    async with world.runtime.engine.connect() as connection:
        for table in (install_tables.BOTS_TABLE, install_tables.INSTALLATIONS_TABLE):
            for row in await connection.execute(text(f"SELECT * FROM {table}")):
                values.extend(str(value) for value in row if value is not None)
    assert values, "nothing is installed"
    return values


async def stored_bot_tokens(world: SlackWorld) -> list[str]:
    async with world.runtime.engine.connect() as connection:
        bots = await connection.execute(text("SELECT bot_token FROM slack_bots"))
        installs = await connection.execute(text("SELECT bot_token FROM slack_installations"))
        return [str(value) for (value,) in [*bots, *installs]]


async def files_and_delivers(world: SlackWorld, title: str) -> None:
    """Sam files by /request; the IT channel gets the card, posted with the bot token."""
    answer = await world.say("U0SAM", f"it {title}")
    assert "IT-" in answer, answer
    await world.deliver()
    posted = [
        call
        for call in world.fake.calls_to("chat.postMessage")
        if call.args.get("channel") == "C0ITDESK" and title in str(call.args)
    ]
    assert len(posted) == 1 and posted[0].ok, world.fake.calls[-5:]
    assert posted[0].token == world.fake.token


def rotate(database_url: str, workdir: Path, keys: str) -> str:
    """`inhouse secrets rotate` as an operator runs it: a process of its own."""
    machine = Inhouse(workdir, {"DATABASE_URL": database_url, "INHOUSE_SECRET_KEY": keys})
    return machine.ok("secrets", "rotate")


async def test_an_oauth_install_is_stored_encrypted_and_the_desk_delivers_with_it(
    desk_db: str, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    key = new_key()
    async with serving(desk_db, fake, key) as world:
        await install(world)
        stored = await raw_values(world)
        assert not [value for value in stored if fake.token in value], "the token is in clear"
        for sealed in await stored_bot_tokens(world):
            assert Fernet(key).decrypt(sealed.encode()).decode() == fake.token

    # Restarted, the desk reads the install back and delivers as that bot.
    async with serving(desk_db, fake, key) as world:
        assert world.runtime.platform_on
        await files_and_delivers(world, "Printer on fire")
    assert fake.token not in caplog.text


async def test_rotating_the_key_keeps_the_install_and_retires_the_old_key(
    desk_db: str, fake: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    old, new = new_key(), new_key()
    async with serving(desk_db, fake, old) as world:
        await install(world)

    # The operator puts a new key in front and restarts: the install still reads.
    async with serving(desk_db, fake, f"{new},{old}") as world:
        assert world.runtime.platform_on
    out = rotate(desk_db, tmp_path, f"{new},{old}")
    assert "2 stored secrets are now encrypted with the first key; 0 had been" in out, out

    async with serving(desk_db, fake, new) as world:  # the old key dropped
        for stored in await stored_bot_tokens(world):
            assert Fernet(new).decrypt(stored.encode()).decode() == fake.token
        await files_and_delivers(world, "Printer on fire")
        # A second request is filed but not yet delivered when the key goes wrong.
        await world.filed_while_held("U0SAM", "it Scanner jammed", "IT-2")

    caplog.clear()
    async with serving(desk_db, fake, old) as world:  # a stale key
        assert not world.runtime.platform_on
        unreadable = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.ERROR and "cannot be decrypted" in r.getMessage()
        ]
        assert len(unreadable) == 1, caplog.text
        assert "T0TEAM" in unreadable[0] and "INHOUSE_SECRET_KEY" in unreadable[0]
        # Sam is told the app needs installing, not a 500.
        refused = await world.driver.command("U0SAM", "it Another thing")
        assert refused.status == 200, refused
        assert refused.response_url is not None
        told = world.fake.responses[refused.response_url]
        assert len(told) == 1 and "reinstall" in told[0]["text"], told
        # Nothing is lost: the waiting card is not drained into the log.
        await world.deliver()
        async with world.runtime.engine.connect() as connection:
            assert (await connection.execute(text(UNDELIVERED))).scalar() == 1
        assert "Scanner jammed" not in caplog.text
    assert fake.token not in caplog.text


async def test_a_token_stored_before_encryption_works_until_rotate_encrypts_it(
    desk_db: str, fake: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # The desk before this change: slack_sdk's own store, the token in the clear.
    engine = build_engine(desk_db)
    try:
        await AsyncSQLAlchemyInstallationStore(
            client_id=fake.client_id,
            engine=engine,
            installations_table_name=install_tables.INSTALLATIONS_TABLE,
            bots_table_name=install_tables.BOTS_TABLE,
        ).async_save(
            Installation(
                app_id="A0APP",
                team_id=fake.team_id,
                team_name=fake.team_name,
                bot_token=fake.token,
                bot_id=fake.bot_id,
                bot_user_id=fake.bot_user_id,
                bot_scopes="commands,chat:write",
                user_id="U0CAROL",
                installed_at=datetime(2026, 11, 1, tzinfo=UTC).timestamp(),
            )
        )
    finally:
        await engine.dispose()

    key = new_key()
    async with serving(desk_db, fake, key) as world:
        assert [v for v in await raw_values(world) if fake.token in v], "not stored in clear"
        await files_and_delivers(world, "Printer on fire")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("not encrypted yet" in w for w in warned) == 1, warned

    out = rotate(desk_db, tmp_path, key)
    assert "2 stored secrets are now encrypted with the first key; 2 had been" in out, out

    caplog.clear()
    async with serving(desk_db, fake, key) as world:
        assert not [v for v in await raw_values(world) if fake.token in v]
        await files_and_delivers(world, "Scanner jammed")
    assert "not encrypted yet" not in caplog.text
    assert fake.token not in caplog.text
