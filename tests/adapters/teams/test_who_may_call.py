"""Who may call POST /api/messages: nobody by default, this machine in local mode.

The attack these tests replay: with no Microsoft app id the endpoint used to trust
anyone. A forged activity whose serviceUrl named the attacker's server and whose
roster there gave a catalog person's email acted as that person, and the team
channel's conversation reference it left behind sent the next card to the attacker.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.teams.gate import is_loopback_address, is_loopback_url
from models.settings import Settings
from tests.adapters.teams.conftest import (
    TeamsWorld,
    running,
    staff,
    start_app,
    stored_rows,
)
from tests.adapters.teams.driver import TeamsDriver
from tests.fakes.bot_connector import FakeConnector


async def post(url: str, activity: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(url, json=activity) as response:
        return response.status, await response.text()


# --- no credentials, no local mode: no endpoint ------------------------------------------


async def test_without_credentials_or_local_mode_teams_is_off_and_not_served(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    caplog.set_level(logging.INFO)
    async with FakeConnector() as connector:
        staff(connector)
        runtime, runner = await start_app(
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=f"sqlite+aiosqlite:///{database}",
            ),
            unused_tcp_port,
        )
        try:
            driver = TeamsDriver(f"http://127.0.0.1:{unused_tcp_port}", connector.url)
            answers = [
                await driver.say("sam", "list"),
                await driver.install_in_team("mallory"),
                await driver.say_in_channel("mallory", "request it Give me access"),
            ]
            assert {a.status for a in answers} == {404}
            assert "teams" not in [c.name for c in runtime.channels]
            assert connector.requests == []  # no roster lookup, no reply
            assert set((await stored_rows(runtime)).values()) == {0}
        finally:
            await runner.cleanup()
            await runtime.close()
    said = caplog.text
    assert "channel teams: off (set MICROSOFT_APP_ID" in said
    assert "INHOUSE_TEAMS_LOCAL=1 / serve --teams-local" in said
    assert "for the Agents Playground on this machine" in said


async def test_local_mode_warns_at_start_that_it_is_unauthenticated_and_loopback_only(
    teams: TeamsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    warnings = [r.getMessage() for r in caplog.get_records("setup") if r.levelno == logging.WARNING]
    assert any(
        "LOCAL MODE" in w and "UNAUTHENTICATED" in w and "only this machine" in w for w in warnings
    ), warnings
    assert "teams" in [c.name for c in teams.runtime.channels]


async def test_with_credentials_the_local_mode_switch_opens_nothing(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    async with (
        FakeConnector() as connector,
        running(
            f"sqlite+aiosqlite:///{database}",
            unused_tcp_port,
            connector,
            inhouse_teams_local=True,
            microsoft_app_id="00000000-0000-0000-0000-000000000001",
            microsoft_app_password="secret",
            microsoft_app_tenant_id="tenant-1",
        ) as world,
    ):
        before = await world.stored()
        answer = await world.driver.say("sam", "request it Printer on fire")
        assert answer.status == 401
        assert await world.stored() == before
        assert connector.requests == []


# --- local mode: callers from this machine only -----------------------------------------


async def test_local_mode_refuses_a_caller_that_is_not_this_machine_before_reading_the_body(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    """A caller without a loopback address (here: over a Unix socket, so no IP address
    at all, and no traffic to any address but this machine's) is refused, whatever
    it claims in X-Forwarded-For, before its body is read."""
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    socket_path = str(tmp_path / "desk.sock")
    async with (
        FakeConnector() as connector,
        running(
            f"sqlite+aiosqlite:///{database}",
            unused_tcp_port,
            connector,
            unix_path=socket_path,
            inhouse_teams_local=True,
        ) as world,
    ):
        staff(connector)
        before = await world.stored()
        activity = world.driver.activity("message", "sam", text="request it Printer on fire")

        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path)) as http,
            http.post(
                "http://desk/api/messages", json=activity, headers={"X-Forwarded-For": "127.0.0.1"}
            ) as response,
        ):
            assert (response.status, await response.text()) == (
                403,
                "Teams local mode answers this machine only",
            )
        # Announcing a megabyte and sending none of it: the answer comes anyway,
        # so the body was never waited for.
        reader, writer = await asyncio.open_unix_connection(socket_path)
        writer.write(
            b"POST /api/messages HTTP/1.1\r\nHost: desk\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 403"), status_line
        assert await world.stored() == before
        assert connector.requests == []

        # From 127.0.0.1 the same activity is served.
        assert (await world.driver.post(activity)).status == 201
        assert (await world.request("IT-1")).title == "Printer on fire"


# --- local mode: answers on this machine only ---------------------------------------------

OFF_MACHINE = [
    "https://smba.trafficmanager.net/emea/",
    "http://192.0.2.50:8080/",
    "http://127.0.0.1@attacker.example/",
    "http://attacker.example\\@127.0.0.1/",
    "http://attacker.example#@127.0.0.1/",
    "http://localhost.attacker.example/",
    "http://127.0.0.1.nip.io/",
    "http://0.0.0.0:9/",
    "http://[::ffff:192.0.2.50]/",
    "http://127.0.0.1:{port}/",
    "ftp://127.0.0.1/",
    "//127.0.0.1/",
]


@pytest.mark.parametrize("service_url", OFF_MACHINE)
async def test_local_mode_refuses_an_activity_answered_off_this_machine(
    teams: TeamsWorld, service_url: str
) -> None:
    before = await teams.stored()
    forged = teams.driver.activity(
        "message", "mallory", text="list", serviceUrl=service_url, **teams.driver.channel()
    )
    answer = await teams.driver.post(forged)
    assert answer.status == 403
    assert await teams.stored() == before
    assert teams.connector.requests == []


async def test_a_forged_roster_elsewhere_is_never_asked_and_the_team_card_stays_home(
    teams: TeamsWorld,
) -> None:
    """The reported attack, replayed: Mallory's activities name her own server (a
    name no resolver here knows, so even a bug could not reach anything) as the
    place to answer and to look up the roster, which would say she is Sam."""
    forged_home = "http://desk-helper.attacker.invalid:3978/"
    before = await teams.stored()
    driver = TeamsDriver(teams.driver.base_url, forged_home)
    answers = [
        await driver.say("mallory", "list"),  # Sam's request history
        await driver.install_in_team("mallory"),
        await driver.say_in_channel("mallory", "hello"),
    ]
    assert {a.status for a in answers} == {403}
    assert await teams.stored() == before  # no reference to her server kept
    assert teams.connector.requests == []

    # The team and Sam carry on; the team's card goes to the real connector.
    await teams.driver.install_in_team("alice")
    await teams.driver.say("sam", "request it Printer on fire")
    await teams.deliver()
    assert any("Printer on fire" in str(p.activity) for p in teams.channel_posts())


# --- the checks themselves ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("10.0.0.1", False),
        ("::ffff:192.0.2.2", False),
        ("fd00::2", False),
        ("0.0.0.0", False),
        ("localhost", False),  # a peer address is never a name
        ("", False),
        (None, False),
    ],
)
def test_which_peers_are_this_machine(remote: str | None, loopback: bool) -> None:
    assert is_loopback_address(remote) is loopback


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:56150/_connector",
        "http://localhost:56150/_connector",
        "https://127.0.0.2/",
        "http://[::1]:3978/",
        "http://127.0.0.1:8080/amer/v3%2Fx",
    ],
)
def test_loopback_service_urls(url: str) -> None:
    assert is_loopback_url(url)


@pytest.mark.parametrize("url", OFF_MACHINE)
def test_service_urls_off_this_machine(url: str) -> None:
    assert not is_loopback_url(url)
