"""Socket Mode as a self-hosted desk runs it: no signing secret, no inbound port.

The app connects to the fake Slack with slack_sdk's own Socket Mode client (through
Bolt's handler); envelopes come over the WebSocket and are acknowledged there.
Slack's `disconnect` message and a cut connection are survived by opening a new
connection, and an envelope Slack sends again because its acknowledgement was
lost is acted on once.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from models.requests import Request, RequestEvent
from tests.adapters.slack.conftest import SlackWorld, running
from tests.adapters.slack.driver import APP, TEAM
from tests.fakes.slack_api import FakeSlack

DEPLOY = Path(__file__).parents[3] / "deploy"
FILING = {"response_type": "ephemeral", "text": "⏳ Filing your request…"}
# slack_sdk replaces a connection that ended within one ping interval (5 s), after
# asking Slack for a new URL.
RECONNECT_SECONDS = 15.0

_envelopes = itertools.count(1)


def _envelope(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "envelope_id": f"env-{next(_envelopes)}",
        "accepts_response_payload": kind != "events_api",
        "payload": payload,
    }


def command(fake: FakeSlack, user: str, text: str, response_url: str) -> dict[str, Any]:
    """`/request TEXT` as Slack sends it over Socket Mode."""
    return _envelope(
        "slash_commands",
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/request",
            "text": text,
            "api_app_id": APP,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": fake.new_trigger_id(user),
        },
    )


def press(fake: FakeSlack, user: str, action_id: str, value: str, card_ts: str) -> dict[str, Any]:
    """A button on a message in the team channel."""
    return _envelope(
        "interactive",
        {
            "type": "block_actions",
            "api_app_id": APP,
            "token": "legacy",
            "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM},
            "trigger_id": fake.new_trigger_id(user),
            "channel": {"id": "C0ITDESK"},
            "container": {"type": "message", "channel_id": "C0ITDESK", "message_ts": card_ts},
            "message": {"ts": card_ts, "type": "message"},
            "response_url": fake.new_response_url(),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        },
    )


def event(event: dict[str, Any]) -> dict[str, Any]:
    return _envelope(
        "events_api",
        {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": APP,
            "type": "event_callback",
            "event_id": f"Ev{next(_envelopes):08d}",
            "event_time": int(time.time()),
            "event": {"event_ts": str(time.time()), **event},
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        },
    )


def acks(fake: FakeSlack, envelope: dict[str, Any]) -> list[Any]:
    """What the app sent back for this envelope, one entry per acknowledgement."""
    return [
        a.get("payload") for a in fake.socket_acks if a["envelope_id"] == envelope["envelope_id"]
    ]


async def acked(world: SlackWorld, envelope: dict[str, Any], within: float = 5.0) -> Any:
    """Wait for the one acknowledgement of an envelope; what it answered."""
    await world.fake.wait_for(lambda: bool(acks(world.fake, envelope)), timeout=within)
    assert len(acks(world.fake, envelope)) == 1
    return acks(world.fake, envelope)[0]


async def reconnected(world: SlackWorld, connections: int) -> None:
    """slack_sdk asked for a new URL, and exactly one connection is open again."""
    fake = world.fake
    await fake.wait_for(
        lambda: (
            len(fake.calls_to("apps.connections.open")) == connections
            and fake.socket_connections == 1
        ),
        timeout=RECONNECT_SECONDS,
    )


async def kinds(world: SlackWorld, key: str) -> list[str]:
    async with world.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(RequestEvent.kind)
                .join(Request, Request.id == RequestEvent.request_id)
                .where(Request.key == key)
                .order_by(RequestEvent.id)
            )
        )


async def titles(world: SlackWorld) -> list[str]:
    async with world.runtime.sessions() as session:
        return list(await session.scalars(select(Request.title).order_by(Request.id)))


@pytest.fixture
async def socket_only(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[SlackWorld]:
    """The desk with SLACK_APP_TOKEN and SLACK_BOT_TOKEN only: no signing secret."""
    async with running(
        tmp_path,
        sqlite_template,
        unused_tcp_port,
        slack_app_token=FakeSlack.app_token,
        slack_signing_secret=None,
    ) as world:
        await world.runtime.socket_mode.connect_async()
        await world.fake.wait_for(lambda: world.fake.socket_connected)
        yield world


# ------------------------------------------------------------------ the manifests


def test_the_socket_mode_manifest_differs_only_in_what_socket_mode_changes() -> None:
    """Same scopes, events, command, shortcut and settings: only the request URLs
    (and the OAuth redirect, which Socket Mode's single install does not use) go."""
    over_http = yaml.safe_load((DEPLOY / "slack-manifest.yml").read_text())
    socket = yaml.safe_load((DEPLOY / "slack-manifest-socket.yml").read_text())
    assert over_http["settings"].pop("socket_mode_enabled") is False
    assert socket["settings"].pop("socket_mode_enabled") is True
    for command_entry in over_http["features"]["slash_commands"]:
        assert command_entry.pop("url").endswith("/slack/events")
    assert over_http["settings"]["event_subscriptions"].pop("request_url").endswith("/slack/events")
    assert over_http["settings"]["interactivity"].pop("request_url").endswith("/slack/events")
    assert [u.split("/", 3)[-1] for u in over_http["oauth_config"].pop("redirect_urls")] == [
        "slack/oauth_redirect"
    ]
    assert socket == over_http
    assert "http" not in json.dumps(socket)


# ------------------------------------------------------------------ working a request


async def test_socket_mode_alone_files_and_works_a_request(socket_only: SlackWorld) -> None:
    world, fake = socket_only, socket_only.fake
    # Nothing could verify a post without a signing secret: the door is not there.
    assert (await world.driver.command("U0SAM", "it Printer")).status == 404
    assert (await world.driver.post("{}", "application/json", signed=False)).status == 404

    url = fake.new_response_url()
    filed = command(fake, "U0SAM", "it Printer on fire", url)
    await fake.socket_send(filed)
    assert await acked(world, filed) == FILING
    await world.eventually(lambda: fake.responses[url])
    assert "Filed IT-1: Printer on fire." in fake.responses[url][0]["text"]
    assert await titles(world) == ["Printer on fire"]

    # The team's card, and Alice claims from it over the socket.
    await world.deliver()
    card = world.card()
    assert "IT-1" in str(card.blocks)
    claim = press(fake, "U0ALICE", "claim", "IT-1", card.ts)
    await fake.socket_send(claim)
    assert await acked(world, claim) is None  # a button is acknowledged without text
    await world.eventually(lambda: world.request("IT-1"))
    await world.eventually(lambda: _has(world, "IT-1", "claimed"))
    await world.deliver()
    assert "Alice IT" in str(world.card().blocks)
    assert world.card().edited >= 1
    assert "is on it" in world.dms("U0SAM")[-1].text


async def test_with_a_signing_secret_too_both_ways_in_work(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    async with running(
        tmp_path, sqlite_template, unused_tcp_port, slack_app_token=FakeSlack.app_token
    ) as world:
        await world.runtime.socket_mode.connect_async()
        await world.fake.wait_for(lambda: world.fake.socket_connected)
        assert "Filed IT-1: Over HTTP." in await world.say("U0SAM", "it Over HTTP")
        url = world.fake.new_response_url()
        filed = command(world.fake, "U0SAM", "it Over the socket", url)
        await world.fake.socket_send(filed)
        assert await acked(world, filed) == FILING
        await world.eventually(lambda: world.fake.responses[url])
        assert "Filed IT-2: Over the socket." in world.fake.responses[url][0]["text"]
        # A forged post is still refused at the HTTP door.
        forged = await world.driver.post(
            world.driver.command_body("U0SAM", "it Forged"),
            "application/x-www-form-urlencoded",
            secret="wrong",
        )
        assert forged.status == 401
        assert await titles(world) == ["Over HTTP", "Over the socket"]


async def _has(world: SlackWorld, key: str, kind: str) -> bool:
    return kind in await kinds(world, key)


# ------------------------------------------------------------------ reconnecting


@pytest.mark.parametrize("how", ["refresh_requested", "warning", "cut"])
async def test_a_new_connection_after_slack_says_disconnect_or_the_line_is_cut(
    socket_only: SlackWorld, how: str
) -> None:
    world, fake = socket_only, socket_only.fake
    if how == "cut":
        await fake.socket_cut()  # no close frame, no warning
    else:
        await fake.socket_disconnect(how)
    await reconnected(world, 2)

    url = fake.new_response_url()
    filed = command(fake, "U0SAM", "it Screen flickers", url)
    await fake.socket_send(filed)
    assert await acked(world, filed) == FILING
    await world.eventually(lambda: fake.responses[url])
    assert "Filed IT-1: Screen flickers." in fake.responses[url][0]["text"]


async def test_an_envelope_sent_again_after_a_cut_is_acted_on_once(
    socket_only: SlackWorld,
) -> None:
    """Each envelope reaches the desk, which acts on it; the connection is cut before
    its acknowledgement gets back, so Slack sends it again on the next connection."""
    world, fake = socket_only, socket_only.fake

    # A quick-file: filed once, and the person reads that it was.
    url = fake.new_response_url()
    filed = command(fake, "U0SAM", "it Printer on fire", url)
    await fake.socket_send(filed, then_cut=True)
    await reconnected(world, 2)
    assert await acked(world, filed) == FILING
    await world.eventually(lambda: len(fake.responses[url]) == 2)
    assert await titles(world) == ["Printer on fire"]
    answers = [r["text"] for r in fake.responses[url]]
    assert "Filed IT-1: Printer on fire." in answers[0]
    assert answers[1] == (
        "✅ That command reached the desk twice and was carried out once. "
        "/request list shows your requests."
    )

    # A button: one claim.
    await world.deliver()
    card = world.card()
    claim = press(fake, "U0ALICE", "claim", "IT-1", card.ts)
    await fake.socket_send(claim, then_cut=True)
    await reconnected(world, 3)
    assert await acked(world, claim) is None
    assert (await kinds(world, "IT-1")).count("claimed") == 1

    # An event, a reply in the card's thread: Sam gets it once.
    reply = event(
        {
            "type": "message",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "user": "U0ALICE",
            "text": "Is it plugged in?",
            "ts": "1800000000.000100",
            "thread_ts": card.ts,
        }
    )
    await fake.socket_send(reply, then_cut=True)
    await reconnected(world, 4)
    assert await acked(world, reply) is None
    await world.eventually(lambda: _has(world, "IT-1", "replied"))
    await world.deliver()
    assert (await kinds(world, "IT-1")).count("replied") == 1
    relayed = [m for m in world.dms("U0SAM") if "Is it plugged in?" in str(m.blocks)]
    assert len(relayed) == 1
