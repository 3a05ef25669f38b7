"""Hostile input on POST /slack/events: refused before it is read, or answered on purpose.

A forger gets 401 before a byte of the body is parsed (the app does not even ask
Slack who it is); a signed body Bolt could not route gets 400; a signed payload
without what its listener needs is answered — the person is told, in their
language, when the payload says who they are — and stores nothing. Never a 500,
and the next good request is filed as if nothing had happened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from models.base import Base
from models.inbox import PendingCommand
from models.requests import Request, RequestEvent
from tests.adapters.slack.conftest import SECRET, SlackWorld, running
from tests.adapters.slack.driver import APP, TEAM, Answer, SlackDriver
from tests.fakes.slack_api import FakeSlack

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

UNREADABLE = "⚠️ That could not be read, so nothing was done. Please try again."
STALE_BUTTON = "⚠️ That button is not valid any more, so nothing was changed."
STALE_RATING = "⚠️ That rating button is not valid any more, so nothing was changed."
FAILED = "⚠️ Sorry, something went wrong on our side. Please try again."
STALE_FORM = "⚠️ That form could not be read, so nothing was saved. Please open it again."
UNREADABLE_DE = (
    "⚠️ Das konnte nicht gelesen werden, deshalb wurde nichts ausgeführt. "
    "Bitte versuchen Sie es noch einmal."
)
STALE_RATING_DE = (
    "⚠️ Diese Bewertungsschaltfläche ist nicht mehr gültig, deshalb wurde nichts geändert."
)

# Web API calls a person would notice.
VISIBLE = {
    "chat.postEphemeral",
    "chat.postMessage",
    "chat.update",
    "views.open",
    "views.push",
    "views.update",
    "views.publish",
}


@dataclass(frozen=True)
class Seen:
    """Something the app showed someone: an ephemeral, a message, a view."""

    method: str
    channel: str
    user: str | None
    text: str


def ephemeral(channel: str, user: str, text: str) -> Seen:
    return Seen("chat.postEphemeral", channel, user, text)


def direct(user: str, text: str) -> Seen:
    """A message in the person's DM with the bot (chat.postMessage to their id)."""
    return Seen("chat.postMessage", user, None, text)


def seen_since(fake: FakeSlack, mark: int) -> list[Seen]:
    return [
        Seen(
            call.method,
            str(call.args.get("channel") or ""),
            call.args.get("user"),
            str(call.args.get("text") or ""),
        )
        for call in fake.calls[mark:]
        if call.method in VISIBLE and call.ok
    ]


Send = Callable[[SlackDriver], Awaitable[Answer]]


@dataclass(frozen=True)
class Case:
    send: Send
    status: int
    # The answer in the HTTP response, which Slack shows whoever typed a command.
    reply: str | None = None
    # What the app then showed, to whom.
    told: tuple[Seen, ...] = ()
    # Refused at the door: Bolt never ran, so the app asked Slack nothing at all.
    at_the_door: bool = False


def door(send: Send, status: int) -> Case:
    return Case(send, status, at_the_door=True)


# ---------------------------------------------------------------- senders


def raw(
    body: str | bytes,
    content_type: str = FORM,
    *,
    signed: bool = True,
    timestamp: str | None = None,
    headers: dict[str, str] | None = None,
) -> Send:
    async def send(driver: SlackDriver) -> Answer:
        return await driver.post(
            body, content_type, signed=signed, timestamp=timestamp, headers=headers
        )

    return send


def signed_bytes(body: bytes) -> Send:
    """Correctly signed, but not UTF-8: slack_sdk cannot verify it (nor would Slack
    send it), so this HMAC is computed here by hand."""

    async def send(driver: SlackDriver) -> Answer:
        stamp = str(int(time.time()))
        digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        }
        return await driver.post(body, FORM, signed=False, headers=headers)

    return send


def command(**changes: str | None) -> Send:
    """`/request it Printer on fire` by Sam, with fields replaced or (None) left out."""

    async def send(driver: SlackDriver) -> Answer:
        fields: dict[str, str | None] = {
            "token": "legacy",
            "team_id": TEAM,
            "channel_id": "C0GENERAL",
            "user_id": "U0SAM",
            "command": "/request",
            "text": "it Printer on fire",
            "api_app_id": APP,
            "response_url": driver.response_url(),
            "trigger_id": driver.trigger(),
            **changes,
        }
        sent = {name: value for name, value in fields.items() if value is not None}
        return await driver.post(urlencode(sent), FORM)

    return send


def interaction(payload: dict[str, Any]) -> Send:
    async def send(driver: SlackDriver) -> Answer:
        return await driver.interact(payload)

    return send


def press(
    action_id: str,
    value: Any,
    *,
    user: str | None = "U0ALICE",
    channel: str = "C0ITDESK",
    trigger: bool = True,
) -> Send:
    """A button in a message; `value` as given (any JSON), `None` leaves it out."""

    async def send(driver: SlackDriver) -> Answer:
        action: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "block_id": "b",
            "action_ts": str(time.time()),
        }
        if value is not None:
            action["value"] = value
        payload: dict[str, Any] = {
            "type": "block_actions",
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "message_ts": "1.0"},
            "message": {"ts": "1.0", "type": "message"},
            "response_url": "https://hooks.slack.invalid/actions/1",
            "actions": [action],
        }
        if user is not None:
            payload["user"] = {"id": user, "team_id": TEAM}
        if trigger:
            payload["trigger_id"] = driver.trigger()
        return await driver.interact(payload)

    return send


def submission(view: dict[str, Any], *, user: str | None = "U0SAM") -> Send:
    payload: dict[str, Any] = {
        "type": "view_submission",
        "view": {"type": "modal", "team_id": TEAM, **view},
    }
    if user is not None:
        payload["user"] = {"id": user, "team_id": TEAM}
    return interaction(payload)


def event(inner: dict[str, Any], *, event_id: str | None = "Ev0HOSTILE") -> Send:
    async def send(driver: SlackDriver) -> Answer:
        envelope: dict[str, Any] = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": APP,
            "type": "event_callback",
            "event_time": int(time.time()),
            "event": {"event_ts": str(time.time()), **inner},
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        }
        if event_id is not None:
            envelope["event_id"] = event_id
        return await driver.post(json.dumps(envelope), JSON)

    return send


# ------------------------------------------------------------------- cases

DOOR = {
    # Unsigned, or signed in a way that cannot be checked: 401, nothing read.
    "unsigned-payload-not-json": door(raw("payload={not json", signed=False), 401),
    "unsigned-json-list": door(raw("[1, 2]", JSON, signed=False), 401),
    "unsigned-not-utf8": door(raw(b"payload=\xff\xfe\xfd", signed=False), 401),
    "unsigned-empty": door(raw("", signed=False), 401),
    "signature-without-timestamp": door(
        raw("payload={}", signed=False, headers={"X-Slack-Signature": "v0=00"}), 401
    ),
    "timestamp-not-a-number": door(raw("payload={}", timestamp="yesterday"), 401),
    "timestamp-of-5000-digits": door(raw("payload={}", timestamp="9" * 5000), 401),
    "timestamp-ten-minutes-old": door(
        raw("payload={}", timestamp=str(int(time.time()) - 600)), 401
    ),
    "signed-but-not-utf8": door(signed_bytes(b"payload=\xff\xfe\xfd"), 401),
    # Signed, but nothing Bolt could route: 400.
    "payload-not-json": door(raw("payload={not json"), 400),
    "body-not-json": door(raw("{not json", JSON), 400),
    "body-json-list": door(raw("[1, 2]", JSON), 400),
    "body-json-null": door(raw("null", JSON), 400),
    "payload-json-list": door(raw(urlencode({"payload": "[1, 2]"})), 400),
    "payload-json-string": door(raw(urlencode({"payload": '"claim"'})), 400),
    "event-a-string": door(
        raw(json.dumps({"type": "event_callback", "event": "message"}), JSON), 400
    ),
    "actions-empty": door(
        raw(urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})), 400
    ),
    "user-a-number": door(
        raw(
            urlencode(
                {
                    "payload": json.dumps(
                        {"type": "block_actions", "user": 5, "actions": [{"action_id": "claim"}]}
                    )
                }
            )
        ),
        400,
    ),
    # Wrong deep inside, where Bolt builds its context: still refused at the door.
    "bolt-context-wrong-type": door(
        raw(
            json.dumps({"type": "event_callback", "event": None, "is_ext_shared_channel": True}),
            JSON,
        ),
        400,
    ),
    "reaction-item-a-list": door(
        raw(
            json.dumps(
                {
                    "type": "event_callback",
                    "event_id": "Ev0X",
                    "event": {"type": "reaction_added", "user": "U0SAM", "item": []},
                }
            ),
            JSON,
        ),
        400,
    ),
}
LISTENERS = {
    # Slash commands: whoever typed one reads the answer, so it always says why.
    "command-without-user_id": Case(command(user_id=None), 200, reply=UNREADABLE),
    "command-without-response_url": Case(command(response_url=None), 200, reply=UNREADABLE),
    "command-without-trigger_id": Case(command(trigger_id=None), 200, reply=UNREADABLE),
    "command-response_url-not-an-address": Case(
        command(response_url="not a url"), 200, reply=UNREADABLE
    ),
    "command-without-team_id": Case(command(team_id=None), 200, reply=UNREADABLE),
    "command-team_id-not-an-id": Case(command(team_id="<team>"), 200, reply=UNREADABLE),
    "command-text-with-NUL": Case(command(text="it Printer\x00 on fire"), 200, reply=UNREADABLE),
    "command-in-german": Case(
        command(user_id="U0HANS", response_url=None), 200, reply=UNREADABLE_DE
    ),
    # Buttons: read before the acknowledgement; the presser is told beside the button.
    "button-without-user": Case(press("claim", "IT-1", user=None), 400),
    "button-without-value": Case(
        press("claim", None), 200, told=(ephemeral("C0ITDESK", "U0ALICE", STALE_BUTTON),)
    ),
    "button-value-a-number": Case(
        press("status", 12345), 200, told=(ephemeral("C0ITDESK", "U0ALICE", STALE_BUTTON),)
    ),
    "button-value-not-utf8": Case(
        press("claim", "IT-\udcff"), 200, told=(ephemeral("C0ITDESK", "U0ALICE", STALE_BUTTON),)
    ),
    "rating-value-not-a-number": Case(
        press("rate_3", "IT-1|abc", user="U0SAM", channel="DU0SAM"),
        200,
        told=(ephemeral("DU0SAM", "U0SAM", STALE_RATING),),
    ),
    "rating-in-german": Case(
        press("rate_3", "IT-1|abc", user="U0HANS", channel="DU0HANS"),
        200,
        told=(ephemeral("DU0HANS", "U0HANS", STALE_RATING_DE),),
    ),
    "form-button-without-trigger_id": Case(
        press("resolve_open", "IT-1", trigger=False),
        200,
        told=(ephemeral("C0ITDESK", "U0ALICE", STALE_BUTTON),),
    ),
    "file-button-value-not-json": Case(
        press("file_from_message", "{not json", user="U0SAM", channel="C0GENERAL"),
        200,
        told=(ephemeral("C0GENERAL", "U0SAM", STALE_BUTTON),),
    ),
    "team-chosen-without-view": Case(
        interaction(
            {
                "type": "block_actions",
                "user": {"id": "U0SAM", "team_id": TEAM},
                "actions": [{"type": "static_select", "action_id": "team", "selected_option": {}}],
            }
        ),
        200,
        told=(direct("U0SAM", STALE_FORM),),
    ),
    # Modals: the person is told in their DM with the bot.
    "form-without-state": Case(
        submission({"id": "V0FORM", "callback_id": "file_request"}),
        200,
        told=(direct("U0SAM", STALE_FORM),),
    ),
    "form-metadata-not-json": Case(
        submission(
            {
                "id": "V0FORM",
                "callback_id": "file_request",
                "private_metadata": "{not json",
                "state": {"values": {}},
            }
        ),
        200,
        told=(direct("U0SAM", STALE_FORM),),
    ),
    "resolve-form-without-request-key": Case(
        submission(
            {
                "id": "V0FORM",
                "callback_id": "resolve_request",
                "state": {"values": {"note": {"note": {"type": "plain_text_input", "value": "x"}}}},
            },
            user="U0ALICE",
        ),
        200,
        told=(direct("U0ALICE", STALE_FORM),),
    ),
    "form-without-user": Case(
        submission(
            {"id": "V0FORM", "callback_id": "file_request", "state": {"values": {}}}, user=None
        ),
        400,
    ),
    "shortcut-without-trigger_id": Case(
        interaction(
            {
                "type": "message_action",
                "callback_id": "file_as_request",
                "user": {"id": "U0SAM", "team_id": TEAM},
                "channel": {"id": "C0GENERAL"},
                "message": {"type": "message", "ts": "1.0", "text": "help"},
            }
        ),
        200,
        told=(ephemeral("C0GENERAL", "U0SAM", UNREADABLE),),
    ),
    # Events are acknowledged at once; the person is told where they wrote.
    "dm-text-not-utf8": Case(
        event(
            {
                "type": "message",
                "channel": "DU0SAM",
                "channel_type": "im",
                "user": "U0SAM",
                "text": "list \udcff",
                "ts": "1800000000.000100",
            }
        ),
        200,
        told=(ephemeral("DU0SAM", "U0SAM", UNREADABLE),),
    ),
    "thread-reply-without-event_id": Case(
        event(
            {
                "type": "message",
                "channel": "C0ITDESK",
                "channel_type": "channel",
                "user": "U0ALICE",
                "text": "On my way",
                "ts": "1800000000.000200",
                "thread_ts": "1700000000.000100",
            },
            event_id=None,
        ),
        200,
        told=(ephemeral("C0ITDESK", "U0ALICE", UNREADABLE),),
    ),
    "message-ts-a-number": Case(
        event(
            {
                "type": "message",
                "channel": "DU0SAM",
                "channel_type": "im",
                "user": "U0SAM",
                "text": "list",
                "ts": 1800000000.0003,
            }
        ),
        200,
        told=(ephemeral("DU0SAM", "U0SAM", UNREADABLE),),
    ),
    "reaction-without-ts": Case(
        event(
            {
                "type": "reaction_added",
                "user": "U0SAM",
                "reaction": "five",
                "item": {"type": "message", "channel": "DU0SAM"},
            }
        ),
        200,
        told=(ephemeral("DU0SAM", "U0SAM", UNREADABLE),),
    ),
    "home-opened-without-user": Case(event({"type": "app_home_opened", "tab": "home"}), 200),
}

CASES = {**DOOR, **LISTENERS}


# ------------------------------------------------------------------- checks


@pytest.fixture
async def world(slack: SlackWorld) -> SlackWorld:
    """The Slack world, and Hans, who reads German."""
    slack.fake.add_user(
        "U0HANS",
        email="hans@example.com",
        real_name="Hans Huber",
        name="hans",
        tz="Europe/Berlin",
        locale="de-DE",
    )
    slack.fake.add_channel("DU0HANS", members=["U0HANS", slack.fake.bot_user_id])
    return slack


async def stored(slack: SlackWorld) -> dict[str, int]:
    """How many rows each table holds."""
    async with slack.runtime.engine.connect() as connection:
        return {
            table.name: int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in Base.metadata.sorted_tables
        }


async def attack(slack: SlackWorld, name: str, case: Case) -> None:
    """Send one case; check the status and exactly what the person was shown."""
    mark = len(slack.fake.calls)
    answer = await case.send(slack.driver)
    assert answer.status == case.status, (name, answer)
    if case.reply is not None:
        assert answer.json == {"response_type": "ephemeral", "text": case.reply}, name
    elif answer.status == 200:
        assert answer.text == "", (name, answer)
    if case.at_the_door:
        assert slack.fake.calls[mark:] == [], name
    # Events are answered after the acknowledgement: wait for what is due.
    await slack.eventually(lambda: len(seen_since(slack.fake, mark)) >= len(case.told))
    assert seen_since(slack.fake, mark) == list(case.told), name


@pytest.mark.parametrize("name", CASES)
async def test_each_hostile_request_is_refused_or_answered_and_stores_nothing(
    world: SlackWorld, name: str
) -> None:
    before = await stored(world)
    await attack(world, name, CASES[name])
    assert await stored(world) == before


async def test_after_all_of_them_a_good_request_is_filed_and_nothing_else_was_stored(
    world: SlackWorld,
) -> None:
    before = await stored(world)
    for name, case in CASES.items():
        await attack(world, name, case)
    assert await stored(world) == before

    answer = await world.say("U0SAM", "it Printer")
    assert "Filed IT-1: Printer." in answer
    after = await stored(world)
    assert after["people"] == before["people"]  # nobody enrolled by the garbage
    # Only the filed command's row, done and kept so that a repeat is not filed again.
    assert after["pending_commands"] == before["pending_commands"] + 1
    assert after["inbound_keys"] == before["inbound_keys"]
    async with world.runtime.sessions() as session:
        done = (await session.execute(select(PendingCommand))).scalars().one()
    assert done.done_at is not None and (done.text, done.reply_address) == ("", "")
    async with world.runtime.sessions() as session:
        titles = list(await session.scalars(select(Request.title)))
        kinds = list(await session.scalars(select(RequestEvent.kind)))
    assert titles == ["Printer"]
    assert kinds == ["filed"]


async def test_a_listener_that_fails_after_the_acknowledgement_says_so(
    world: SlackWorld,
) -> None:
    """Bolt's last line (app.error): the form could not be opened (its trigger ran
    out), so the person is told, instead of nothing happening."""
    world.fake.fail_next("views.open", error="expired_trigger_id")
    mark = len(world.fake.calls)
    sent = await world.driver.command("U0SAM", "")
    assert sent.status == 200
    await world.eventually(lambda: seen_since(world.fake, mark))
    assert seen_since(world.fake, mark) == [direct("U0SAM", FAILED)]


# ------------------------------------------------------------------ Socket Mode


@pytest.fixture
async def socket_mode(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[SlackWorld]:
    """The app connected to the fake Slack over Socket Mode (SLACK_APP_TOKEN set)."""
    async with running(
        tmp_path, sqlite_template, unused_tcp_port, slack_app_token=FakeSlack.app_token
    ) as world:
        await world.runtime.socket_mode.connect_async()
        await world.fake.wait_for(lambda: world.fake.socket_connected)
        yield world


async def test_socket_mode_reads_on_after_malformed_envelopes(socket_mode: SlackWorld) -> None:
    fake = socket_mode.fake
    before = await stored(socket_mode)
    # Frames that are no envelope at all: slack_sdk's client logs them and reads on.
    await fake.socket_send("{not json")
    await fake.socket_send("[1, 2]")
    await fake.socket_send({"type": "events_api", "envelope_id": "E0LIST", "payload": [1, 2]})
    # An envelope Bolt could not route: acknowledged, so Slack does not send it again.
    await fake.socket_send(
        {
            "type": "interactive",
            "envelope_id": "E0ROUTE",
            "payload": {"type": "block_actions", "user": 5, "actions": []},
        }
    )
    # A command without what it needs: the acknowledgement tells the person why.
    await fake.socket_send(
        {
            "type": "slash_commands",
            "envelope_id": "E0BROKEN",
            "accepts_response_payload": True,
            "payload": {"command": "/request", "user_id": "U0SAM", "text": "it Printer"},
        }
    )
    await fake.wait_for(lambda: len(fake.socket_acks) == 2)
    assert await stored(socket_mode) == before

    url = fake.new_response_url()
    await fake.socket_send(
        {
            "type": "slash_commands",
            "envelope_id": "E0GOOD",
            "accepts_response_payload": True,
            "payload": {
                "team_id": TEAM,
                "channel_id": "C0GENERAL",
                "user_id": "U0SAM",
                "command": "/request",
                "text": "it Printer",
                "api_app_id": APP,
                "response_url": url,
                "trigger_id": fake.new_trigger_id("U0SAM"),
            },
        }
    )
    await socket_mode.eventually(lambda: fake.responses[url])
    assert {ack["envelope_id"]: ack.get("payload") for ack in fake.socket_acks} == {
        "E0ROUTE": None,
        "E0BROKEN": {"response_type": "ephemeral", "text": UNREADABLE},
        "E0GOOD": {"response_type": "ephemeral", "text": "⏳ Filing your request…"},
    }
    assert "Filed IT-1: Printer." in fake.responses[url][0]["text"]
    async with socket_mode.runtime.sessions() as session:
        assert list(await session.scalars(select(Request.title))) == ["Printer"]
