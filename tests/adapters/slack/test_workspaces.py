"""Many workspaces, each with its own token.

Two workspaces install the desk through the real OAuth pages while it runs (no
restart); people in each file and work requests, also across workspaces (a Beta
employee asks Alpha's IT team); the fake Slack refuses any call made with one
workspace's token about another's channel or person, and the test checks the
token of every call. Then a workspace removes the app: what was still to be said
there is a dead letter with the reason, the other goes on, and installing again
is served at once with the new token.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from app import build_engine, build_sessions
from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.directory import Person
from models.outbox import OutboxMessage
from models.requests import Request
from tests.adapters.slack.conftest import SlackWorld
from tests.adapters.slack.test_sealed_tokens import install, serving
from tests.fakes.slack_api import FakeSlack

ALPHA, BETA = "T0TEAM", "T0BETA"

CATALOG = """
calendars:
  always: 24x7
people:
  - {email: sam@example.com, name: Sam Sales, department: Sales, slack: U0SAM}
  - {email: alice@example.com, name: Alice IT, department: Operations, slack: U0ALICE}
  - {email: rita@beta.example.com, name: Rita Research, department: Research}
  - {email: hugo@beta.example.com, name: Hugo HR, department: People, slack: U0HUGO,
     timezone: Europe/Rome, language: it}
  - {email: ivy@beta.example.com, name: Ivy HR, department: People}
teams:
  - key: it
    name: IT Service Desk
    slack_channel: C0ITDESK
    slack_workspace: T0TEAM
    members: [alice@example.com]
    calendar: always
    standards:
      normal: {first_response: 4h, resolution: 3d}
  - key: hr
    name: People Team
    slack_channel: C0BETAHR
    slack_workspace: T0BETA
    members: [hugo@beta.example.com, ivy@beta.example.com]
    calendar: always
    standards:
      normal: {first_response: 4h, resolution: 3d}
  - key: finance
    name: Finance
    prefix: FIN
    slack_channel: C0FIN
    members: [sam@example.com]
    calendar: always
    standards:
      normal: {first_response: 4h, resolution: 3d}
survey: {scale: 5, reopen_below: 3, auto_close_after: 3d}
"""

PEOPLE = {
    ALPHA: {
        "U0SAM": "sam@example.com",
        "U0ALICE": "alice@example.com",
        "U0CAROL": "carol@example.com",
    },
    BETA: {
        "U0RITA": "rita@beta.example.com",
        "U0HUGO": "hugo@beta.example.com",
        "U0IVY": "ivy@beta.example.com",
    },
}
CHANNELS = {ALPHA: ("C0ITDESK", "C0FIN", "C0GENERAL"), BETA: ("C0BETAHR", "C0BETAGEN")}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    # Slack's clock is ours to move: a response_url can be made to expire.
    now = [time.monotonic()]
    async with FakeSlack(clock=lambda: now[0]) as slack:
        slack.clock_now = now  # type: ignore[attr-defined]
        slack.add_workspace(BETA, "Beta", installed=False)
        for team, people in PEOPLE.items():
            for user_id, email in people.items():
                name = email.split("@")[0].title()
                slack.add_user(user_id, email=email, real_name=name, name=name, team=team)
                slack.add_channel(f"D{user_id}", team=team)
            for channel in CHANNELS[team]:
                slack.add_channel(channel, team=team)
        yield slack


@pytest.fixture
async def desk_db(database_url: str) -> str:
    engine = build_engine(database_url)
    try:
        async with build_sessions(engine).begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "workspaces.yaml"))
    finally:
        await engine.dispose()
    return database_url


@asynccontextmanager
async def two_workspaces(desk_db: str, fake: FakeSlack) -> AsyncIterator[tuple[SlackWorld, ...]]:
    """The desk serving, and both workspaces installing it while it runs."""
    async with serving(desk_db, fake, Fernet.generate_key().decode()) as alpha:
        assert not alpha.runtime.platform_on  # nothing installed when it started
        await install(alpha, user="U0ALICE")
        await install(alpha, team=BETA, user="U0HUGO")
        beta = SlackWorld(
            fake,
            alpha.driver.in_workspace(BETA, fake.workspaces[BETA].bot_user_id),
            alpha.runtime,
            alpha.dispatcher,
        )
        yield alpha, beta


def workspace_addressed(fake: FakeSlack, args: dict[str, Any]) -> str | None:
    """The workspace of the channel or person a call is about."""
    for name in ("channel", "channel_id", "users", "user", "user_id"):
        value = args.get(name)
        if not isinstance(value, str) or not value:
            continue
        if value in fake.channels:
            return fake.channels[value].team
        if value in fake.users:
            return fake.users[value].team
    return None


def check_every_token(fake: FakeSlack) -> int:
    """Every call spoke with the token of the workspace it was about; how many did."""
    checked = 0
    for call in fake.calls:
        if call.method == "oauth.v2.access" or call.status >= 500:
            continue  # (an outage the test made, to hold a card back)
        looking = call.method in ("users.lookupByEmail", "users.info") and call.error in (
            "users_not_found",
            "user_not_found",
        )
        assert call.ok or looking, (call.method, call.args, call.response)
        addressed = workspace_addressed(fake, call.args)
        if addressed is not None and call.ok:
            assert call.workspace == addressed, (call.method, call.args, call.workspace)
            checked += 1
    return checked


def dm_texts(fake: FakeSlack, user: str) -> list[str]:
    return [m.text for m in fake.messages.get(f"D{user}", [])]


async def outbox(world: SlackWorld) -> list[OutboxMessage]:
    async with world.runtime.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_two_workspaces_each_served_with_its_own_token(desk_db: str, fake: FakeSlack) -> None:
    async with two_workspaces(desk_db, fake) as (alpha, beta):
        # Filed in each workspace, to a team of the same one and across.
        assert "IT-1" in await alpha.say("U0SAM", "it Printer on fire")
        assert "HR-1" in await beta.say("U0RITA", "hr Payslip missing")
        assert "IT-2" in await beta.say("U0RITA", "it VPN drops every hour")
        await alpha.deliver()
        for channel, titles in (("C0ITDESK", ("Printer", "VPN")), ("C0BETAHR", ("Payslip",))):
            cards = [m for m in fake.messages[channel] if m.thread_ts in (None, m.ts)]
            assert len(cards) == len(titles)
            assert all(any(t in str(c.blocks) for c in cards) for t in titles), cards

        # Worked in each: Alice (Alpha) answers Rita (Beta); Hugo, whom the catalog
        # knows by email only, resolves and hands over to Ivy, never seen in Slack.
        assert "IT-2" in await alpha.say("U0ALICE", "reply IT-2 Which VPN client do you use?")
        assert "HR-1" in await beta.say("U0HUGO", "claim HR-1")
        assert "HR-1" in await beta.say("U0HUGO", "assign HR-1 ivy@beta.example.com")
        assert "HR-1" in await beta.say("U0IVY", "resolve HR-1 Payslip sent again")
        await alpha.deliver()
        assert any("Which VPN client" in t for t in dm_texts(fake, "U0RITA"))
        assert any("assigned this to you" in t for t in dm_texts(fake, "U0IVY"))
        assert any("HR-1" in t for t in dm_texts(fake, "U0RITA")), dm_texts(fake, "U0RITA")

        # A response_url that expired before the answer: it comes by DM, in Beta.
        url = fake.new_response_url()
        fake.clock_now[0] += 31 * 60  # type: ignore[attr-defined]
        body = beta.driver.command_body("U0RITA", "hr Laptop bag", "C0BETAGEN", url)
        await beta.driver.post(body, "application/x-www-form-urlencoded")
        await alpha.eventually(lambda: any("HR-2" in t for t in dm_texts(fake, "U0RITA")))

        # A team channel the catalog does not place, with two workspaces installed:
        # a dead letter that says what to write in the catalog, nothing sent.
        assert "FIN-1" in await beta.say("U0RITA", "finance Expense report")
        await alpha.deliver()
        finance = [m for m in await outbox(alpha) if m.last_error and "C0FIN" in m.last_error]
        assert len(finance) == 1 and finance[0].dead_at is not None, finance
        assert "slack_workspace" in (finance[0].last_error or "")
        assert not fake.messages["C0FIN"]

        assert check_every_token(fake) > 10
        tokens = {c.token for c in fake.calls if c.token}
        assert {fake.token_of(ALPHA), fake.token_of(BETA)} <= tokens

        async with alpha.runtime.sessions() as session:
            people = {p.email: p.slack_workspace for p in await session.scalars(select(Person))}
            filed = {r.key: r.slack_workspace for r in await session.scalars(select(Request))}
        assert people["rita@beta.example.com"] == BETA
        assert people["ivy@beta.example.com"] == BETA  # found by email, in Beta
        assert people["sam@example.com"] == ALPHA
        # The catalog told all about Hugo but his workspace: the payloads named it.
        assert people["hugo@beta.example.com"] == BETA
        assert not [c for c in fake.calls_to("users.info") if c.args.get("user") == "U0HUGO"]
        assert filed == {"IT-1": ALPHA, "HR-1": BETA, "IT-2": BETA, "HR-2": BETA, "FIN-1": BETA}


async def test_an_uninstalled_workspace_stops_cleanly_and_an_install_is_served_at_once(
    desk_db: str, fake: FakeSlack
) -> None:
    async with two_workspaces(desk_db, fake) as (alpha, beta):
        # Beta removes the app while HR-1's card is still waiting to go out.
        await beta.filed_while_held("U0RITA", "hr Payslip missing", "HR-1")
        fake.uninstall(BETA)
        gone = await beta.driver.event({"type": "app_uninstalled"})
        assert gone.status == 200
        await alpha.eventually(lambda: _installed(alpha, BETA, expected=0))
        alpha.dispatcher.held = False
        assert "IT-1" in await alpha.say("U0SAM", "it Printer on fire")

        async def hr_card() -> Any:
            # Dead-lettered by the uninstall itself; a dispatch run sends nothing of it.
            await alpha.deliver()
            return next(
                m for m in await outbox(alpha) if m.payload.get("request", {}).get("key") == "HR-1"
            )

        await alpha.eventually(lambda: _dead(hr_card()))
        card = await hr_card()
        assert card.dead_at is not None and card.delivered_at is None
        assert card.last_error == f"app uninstalled from workspace {BETA}"
        # Alpha goes on: its card is posted, with its own token.
        assert [m for m in fake.messages["C0ITDESK"] if "Printer" in str(m.blocks)]
        assert not fake.messages["C0BETAHR"]
        assert not [c for c in fake.calls if c.error in ("token_revoked", "invalid_auth")]

        # Beta installs again: a new token, served without a restart.
        old = fake.token_of(BETA)
        await install(alpha, team=BETA, user="U0HUGO")
        assert fake.token_of(BETA) != old
        assert "HR-2" in await beta.say("U0RITA", "hr Badge does not open the door")
        await alpha.deliver()
        posted = [
            c
            for c in fake.calls_to("chat.postMessage")
            if c.args.get("channel") == "C0BETAHR" and "Badge" in str(c.args)
        ]
        assert len(posted) == 1 and posted[0].ok and posted[0].token == fake.token_of(BETA)

        # Revoking users' tokens leaves the bot in place; revoking the bot's does not.
        await beta.driver.event({"type": "tokens_revoked", "tokens": {"oauth": ["U0HUGO"]}})
        assert "HR-3" in await beta.say("U0RITA", "hr Chair broken")
        await alpha.deliver()
        assert [m for m in fake.messages["C0BETAHR"] if "Chair" in str(m.blocks)]

        await beta.filed_while_held("U0RITA", "hr Desk lamp", "HR-4")
        await beta.driver.event({"type": "tokens_revoked", "tokens": {"bot": ["UBOTBETA"]}})
        await alpha.eventually(lambda: _installed(alpha, BETA, expected=0))
        alpha.dispatcher.held = False
        await alpha.deliver()
        lamp = next(
            m for m in await outbox(alpha) if m.payload.get("request", {}).get("key") == "HR-4"
        )
        assert lamp.last_error == f"app uninstalled from workspace {BETA}" and lamp.dead_at
        assert not [m for m in fake.messages["C0BETAHR"] if "Desk lamp" in str(m.blocks)]
        check_every_token(fake)


async def _installed(world: SlackWorld, team: str, *, expected: int) -> bool:
    async with world.runtime.engine.connect() as connection:
        count = (
            await connection.execute(
                text("SELECT count(*) FROM slack_bots WHERE team_id = :team"), {"team": team}
            )
        ).scalar()
    return count == expected


async def _dead(message: Awaitable[Any]) -> bool:
    return (await message).dead_at is not None
