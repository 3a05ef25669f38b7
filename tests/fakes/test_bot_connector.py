"""Tests for the fake Bot Framework Connector, driven by botbuilder's own CloudAdapter.

The adapter runs in local/unauthenticated mode (empty APP_ID), as under the
Microsoft 365 Agents Playground: no Authorization header goes out and no token is
fetched, so the whole exchange stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from botbuilder.core import CardFactory, MessageFactory, TurnContext, serializer_helper
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
    ErrorResponseException,
)
from botframework.connector import Channels
from msrest.serialization import Model

from tests.fakes.bot_connector import MESSAGE_SIZE_LIMIT, ChannelDelivery, FakeConnector

TENANT = "tenant-1"
BOT = {"id": "28:inhouse-bot", "name": "Inhouse"}
ANA = {"id": "29:aad-ana", "aadObjectId": "aad-ana", "name": "Ana Lima"}
TEAM_ID = "19:team-general@thread.tacv2"
CHANNEL_ID = "19:team-support@thread.tacv2"

Handler = Callable[[TurnContext], Awaitable[None]]


class LocalConfig:
    """What ConfigurationBotFrameworkAuthentication reads; empty ids = auth disabled."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


def card(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        **extra,
    }


class Bot(TeamsActivityHandler):
    """Echoes, sends a card and updates it; ``on_message`` swaps in other behaviour."""

    def __init__(self) -> None:
        self.on_message: Handler | None = None
        self.card_id: str | None = None
        self.results: dict[str, Any] = {}

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        if self.on_message is not None:
            await self.on_message(turn_context)
            return
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")
        sent = await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(card("Pending")))
        )
        self.card_id = sent.id
        update = MessageFactory.attachment(CardFactory.adaptive_card(card("Done")))
        update.id = sent.id
        await turn_context.update_activity(update)

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        # ``action`` is a plain dict; ``value`` must be a dict too (the model
        # declares it ``{object}``), so answer with a refreshed card, not a string.
        return AdaptiveCardInvokeResponse(
            status_code=200,
            type="application/vnd.microsoft.card.adaptive",
            value=card(f"did {invoke_value.action['verb']}"),
        )


@dataclass
class BotServer:
    url: str
    adapter: CloudAdapter
    bot: Bot

    async def post(
        self, activity: dict[str, Any], *, path: str = "/api/messages"
    ) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, json=activity) as response,
        ):
            return response.status, await response.text()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        fake.add_member("aad-ana", name="Ana Lima", email="ana@example.com", tenant_id=TENANT)
        yield fake


@pytest.fixture
def adapter() -> CloudAdapter:
    return CloudAdapter(ConfigurationBotFrameworkAuthentication(LocalConfig()))


@pytest.fixture
async def server(adapter: CloudAdapter) -> AsyncIterator[BotServer]:
    bot = Bot()

    async def messages(request: web.Request) -> web.StreamResponse:
        return await adapter.process(request, bot)

    async def messages_direct(request: web.Request) -> web.StreamResponse:
        # Works around CloudAdapter.process in botbuilder 4.17: it runs
        # serializer_helper() over an invoke body that ActivityHandler already
        # serialized to a dict, which raises (HTTP 500) for any non-empty body.
        activity = Activity().deserialize(await request.json())
        auth_header = request.headers.get("Authorization", "")
        invoke = await adapter.process_activity(auth_header, activity, bot.on_turn)
        if invoke is None:
            return web.Response(status=201)
        body = invoke.body
        if isinstance(body, Model):
            body = serializer_helper(body)
        return web.json_response(body, status=invoke.status)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_post("/api/messages-direct", messages_direct)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield BotServer(f"http://127.0.0.1:{port}", adapter, bot)
    finally:
        await runner.cleanup()


def teams_message(
    connector: FakeConnector,
    conversation_id: str = "a:1personal-chat",
    text: str = "hi",
    *,
    activity_id: str = "1700000000001",
    conversation_type: str = "personal",
    channel_data: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An inbound activity shaped like the ones Teams posts to a bot."""
    return {
        "type": "message",
        "id": activity_id,
        "timestamp": "2025-03-03T09:30:00.000Z",
        "localTimestamp": "2025-03-03T10:30:00.000+01:00",
        "serviceUrl": connector.url,
        "channelId": "msteams",
        "from": dict(ANA),
        "recipient": dict(BOT),
        "conversation": {
            "id": conversation_id,
            "conversationType": conversation_type,
            "tenantId": TENANT,
        },
        "channelData": channel_data or {"tenant": {"id": TENANT}},
        "text": text,
        "textFormat": "plain",
        "locale": "en-US",
        **extra,
    }


def reference(connector: FakeConnector, conversation_id: str) -> ConversationReference:
    return ConversationReference(
        channel_id=Channels.ms_teams,
        service_url=connector.url,
        conversation=ConversationAccount(id=conversation_id, conversation_type="personal"),
        bot=ChannelAccount(**BOT),
        user=ChannelAccount(id=ANA["id"], name=ANA["name"]),
    )


# --------------------------------------------------------------------------- replies


CHANNEL_DATA = {
    "tenant": {"id": TENANT},
    "team": {"id": TEAM_ID, "name": "Support"},
    "channel": {"id": CHANNEL_ID, "name": "Desk"},
}


@pytest.mark.parametrize(
    ("conversation_id", "conversation_type", "channel_data"),
    [
        ("a:1personal-chat", "personal", None),
        (f"{CHANNEL_ID};messageid=1700000000000", "channel", CHANNEL_DATA),
    ],
    ids=["personal", "channel-thread"],
)
async def test_reply_card_and_update_through_the_cloud_adapter(
    connector: FakeConnector,
    server: BotServer,
    conversation_id: str,
    conversation_type: str,
    channel_data: dict[str, Any] | None,
) -> None:
    message = teams_message(
        connector,
        conversation_id,
        "hello",
        conversation_type=conversation_type,
        channel_data=channel_data,
    )
    status, body = await server.post(message)

    assert (status, body) == (201, "")  # CloudAdapter.process answers a message turn with 201
    assert [(s.op, s.reply_to_id) for s in connector.sent] == [
        ("reply", "1700000000001"),
        ("reply", "1700000000001"),
        ("update", "1700000000001"),
    ]
    echo, card_sent, card_update = connector.sent
    assert echo.conversation_id == conversation_id
    assert echo.text == "echo: hello"
    assert echo.activity["from"] == BOT
    assert echo.activity["recipient"]["id"] == ANA["id"]
    assert card_update.activity_id == card_sent.activity_id == server.bot.card_id

    now = connector.activities_in(conversation_id)
    assert [a["id"] for a in now] == [echo.activity_id, card_sent.activity_id]
    assert now[1]["attachments"][0]["content"]["body"][0]["text"] == "Done"

    # The client URL-encodes the ids in the path; local mode sends no token.
    replies = connector.requests_for("reply")
    encoded = quote(conversation_id, safe="")  # 19%3Ateam-support%40thread.tacv2%3Bmessageid%3D...
    assert replies[0].path == f"/v3/conversations/{encoded}/activities/1700000000001"
    assert replies[0].params == {"conversation_id": conversation_id, "activity_id": "1700000000001"}
    assert all("Authorization" not in r.headers for r in connector.requests)
    assert replies[0].json["text"] == "echo: hello"


async def test_invoke_answers_with_the_invoke_response(
    connector: FakeConnector, server: BotServer
) -> None:
    invoke = teams_message(
        connector,
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": "approve", "data": {}}},
    )
    del invoke["text"]
    status, body = await server.post(invoke, path="/api/messages-direct")
    assert status == 200
    answer = json.loads(body)
    assert answer["statusCode"] == 200
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert answer["value"]["body"][0]["text"] == "did approve"

    # Unhandled invokes: 501 with a JSON null body, through either route.
    for path in ("/api/messages", "/api/messages-direct"):
        status, body = await server.post(dict(invoke, name="some/unknownInvoke"), path=path)
        assert (status, body) == (501, "null")
    assert connector.sent == []  # invoke responses travel in the HTTP answer


async def test_cloud_adapter_process_fails_on_invoke_bodies(
    connector: FakeConnector, server: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Canary for the botbuilder 4.17 bug worked around by /api/messages-direct.

    If this starts failing, botbuilder fixed ``CloudAdapter.process`` and the
    workaround can go.
    """
    invoke = teams_message(
        connector,
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": "approve", "data": {}}},
    )
    with caplog.at_level(logging.CRITICAL, logger="aiohttp.server"):
        status, _ = await server.post(invoke)
    assert status == 500
    with pytest.raises(AttributeError, match="is_xml_model"):
        serializer_helper({"statusCode": 200})


async def test_update_and_delete_of_unknown_activities_are_404(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    async def logic(turn_context: TurnContext) -> None:
        update = MessageFactory.text("edited")
        update.id = "no-such-activity"
        with pytest.raises(ErrorResponseException) as raised:
            await turn_context.update_activity(update)
        assert raised.value.response.status_code == 404

        sent = await turn_context.send_activity("to delete")
        assert connector.activities_in("a:1chat")
        await turn_context.delete_activity(sent.id)

    await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert connector.activities_in("a:1chat") == []
    assert [s.op for s in connector.sent] == ["reply", "delete"]


# --------------------------------------------------------------------------- proactive


async def test_create_one_on_one_conversation_then_continue_it(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    seen: list[Activity] = []

    async def first_turn(turn_context: TurnContext) -> None:
        seen.append(turn_context.activity)
        await turn_context.send_activity("Your request R-1 was filed")

    parameters = ConversationParameters(
        is_group=False,
        bot=ChannelAccount(**BOT),
        members=[ChannelAccount(id="aad-ana")],  # the AAD object id works as member id
        tenant_id=TENANT,
        channel_data={"tenant": {"id": TENANT}},
    )
    await adapter.create_conversation("", first_turn, parameters, Channels.ms_teams, connector.url)

    (created,) = connector.conversations
    assert created.startswith("a:1")
    assert connector.conversations[created]["members"] == [{"id": "aad-ana"}]
    assert connector.conversations[created]["tenantID"] == TENANT  # sic: botbuilder's key
    (event,) = seen
    assert (event.type, event.name, event.conversation.id) == (
        "event",
        "CreateConversation",
        created,
    )
    (message,) = connector.sent
    # The send in the callback is a *reply* to the synthetic event's random id.
    assert (message.op, message.conversation_id, message.reply_to_id) == (
        "reply",
        created,
        event.id,
    )

    # The same person gets the same 1:1 conversation again.
    await adapter.create_conversation("", first_turn, parameters, Channels.ms_teams, connector.url)
    assert list(connector.conversations) == [created]

    # A stored reference: continue_conversation also replies (to a fresh uuid)
    # unless the turn's activity id is cleared, which makes it a plain send.
    ref = TurnContext.get_conversation_reference(seen[0])

    async def later(turn_context: TurnContext) -> None:
        await turn_context.send_activity("still open")
        turn_context.activity.id = None
        await turn_context.send_activity("plain send")

    await adapter.continue_conversation(ref, later, "")
    assert [(s.op, s.text) for s in connector.sent[-2:]] == [
        ("reply", "still open"),
        ("send", "plain send"),
    ]
    assert [a["text"] for a in connector.activities_in(created)] == [
        "Your request R-1 was filed",
        "Your request R-1 was filed",
        "still open",
        "plain send",
    ]


async def test_create_conversation_checks_tenant_and_members(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    async def never(turn_context: TurnContext) -> None:
        raise AssertionError("no turn for a failed create")

    cases = [
        ConversationParameters(members=[ChannelAccount(id="29:aad-ana")]),
        ConversationParameters(tenant_id=TENANT, members=[]),
        ConversationParameters(
            tenant_id=TENANT, members=[ChannelAccount(id="29:a"), ChannelAccount(id="29:b")]
        ),
        ConversationParameters(is_group=True, tenant_id=TENANT, activity=MessageFactory.text("x")),
    ]
    for parameters in cases:
        with pytest.raises(ErrorResponseException) as raised:
            await adapter.create_conversation("", never, parameters, "msteams", connector.url)
        assert raised.value.response.status_code == 400
        assert raised.value.error.error.code == "BadArgument"
    assert connector.conversations == {}


async def test_post_to_a_channel_starts_a_thread(
    connector: FakeConnector, server: BotServer
) -> None:
    async def post_to_channel(turn_context: TurnContext) -> None:
        # Without a (non-empty) bot_app_id TeamsInfo takes its legacy
        # BotFrameworkAdapter path, which breaks on CloudAdapter.
        ref, root_id = await TeamsInfo.send_message_to_teams_channel(
            turn_context, MessageFactory.text("New request R-7"), CHANNEL_ID, bot_app_id="local"
        )
        server.bot.results["thread"] = (ref.conversation.id, root_id)

    server.bot.on_message = post_to_channel
    status, _ = await server.post(teams_message(connector))
    assert status == 201

    thread_id, root_id = server.bot.results["thread"]
    assert thread_id == f"{CHANNEL_ID};messageid={root_id}"
    assert connector.conversations[thread_id]["channelData"]["channel"] == {"id": CHANNEL_ID}
    assert [(s.op, s.conversation_id, s.text) for s in connector.sent] == [
        ("send", thread_id, "New request R-7")
    ]

    # Replying into the thread, then editing its root.
    async def reply_in_thread(turn_context: TurnContext) -> None:
        await turn_context.send_activity("Picked up by Bo")
        edit = MessageFactory.text("New request R-7 (assigned)")
        edit.id = root_id
        await turn_context.update_activity(edit)

    await server.adapter.continue_conversation(reference(connector, thread_id), reply_in_thread, "")
    assert [a["text"] for a in connector.activities_in(thread_id)] == [
        "New request R-7 (assigned)",
        "Picked up by Bo",
    ]


# --------------------------------------------------------------------------- TeamsInfo


async def test_teams_info_members_and_team(connector: FakeConnector, server: BotServer) -> None:
    connector.add_member("aad-bo", name="Bo Chen", user_principal_name="bo@example.com")
    connector.add_member("aad-cy", id="29:custom-cy", name="Cy")
    connector.add_team(
        TEAM_ID, name="Support", aad_group_id="group-1", channels={CHANNEL_ID: "Desk"}
    )

    async def look_up(turn_context: TurnContext) -> None:
        results = server.bot.results
        results["by_aad"] = await TeamsInfo.get_member(turn_context, "aad-ana")
        results["by_id"] = await TeamsInfo.get_member(turn_context, "29:custom-cy")
        with pytest.raises(ErrorResponseException) as raised:
            await TeamsInfo.get_member(turn_context, "aad-nobody")
        results["missing"] = raised.value
        results["page1"] = await TeamsInfo.get_paged_members(turn_context, page_size=2)
        results["page2"] = await TeamsInfo.get_paged_members(
            turn_context, results["page1"].continuation_token, 2
        )
        results["all"] = await TeamsInfo.get_members(turn_context)
        # These two use a synchronous client; they work because the fake
        # serves from its own thread (they do block this event loop meanwhile).
        results["team"] = await TeamsInfo.get_team_details(turn_context, TEAM_ID)
        results["channels"] = await TeamsInfo.get_team_channels(turn_context, TEAM_ID)

    server.bot.on_message = look_up
    status, _ = await server.post(teams_message(connector))
    assert status == 201
    results = server.bot.results

    ana = results["by_aad"]
    assert (ana.id, ana.aad_object_id, ana.name, ana.email, ana.tenant_id) == (
        "29:aad-ana",
        "aad-ana",
        "Ana Lima",
        "ana@example.com",
        TENANT,
    )
    assert results["by_id"].aad_object_id == "aad-cy"
    assert results["missing"].response.status_code == 404
    assert results["missing"].error.error.code == "MemberNotFoundInConversation"

    assert [m.aad_object_id for m in results["page1"].members] == ["aad-ana", "aad-bo"]
    assert [m.aad_object_id for m in results["page2"].members] == ["aad-cy"]
    assert results["page2"].continuation_token is None
    assert {m.user_principal_name for m in results["all"]} == {None, "bo@example.com"}

    assert (results["team"].name, results["team"].aad_group_id) == ("Support", "group-1")
    assert [(c.id, c.name) for c in results["channels"]] == [(TEAM_ID, None), (CHANNEL_ID, "Desk")]
    assert (
        connector.requests_for("get_team")[0].path == "/v3/teams/19%3Ateam-general%40thread.tacv2"
    )


# --------------------------------------------------------------------------- failures


async def test_fail_next_429_surfaces_status_and_retry_after(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    connector.fail_next("reply", status=429, retry_after=7)

    async def logic(turn_context: TurnContext) -> None:
        with pytest.raises(ErrorResponseException) as raised:
            await turn_context.send_activity("first")
        error = raised.value
        assert error.response.status_code == 429
        assert error.response.headers["Retry-After"] == "7"
        assert error.error.error.code == "Throttled"
        await turn_context.send_activity("second")  # the failure was used up

    await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert [r.status for r in connector.requests_for("reply")] == [429, 201]  # not retried
    assert [s.text for s in connector.sent] == ["second"]


async def test_fail_next_500_post_raises_but_put_is_retried(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    connector.fail_next("reply", status=500)
    connector.fail_next("update", status=500)

    async def logic(turn_context: TurnContext) -> None:
        with pytest.raises(ErrorResponseException) as raised:
            await turn_context.send_activity("lost")
        assert raised.value.response.status_code == 500
        sent = await turn_context.send_activity("kept")
        edit = MessageFactory.text("kept, edited")
        edit.id = sent.id
        await turn_context.update_activity(edit)  # urllib3 retries PUT on 500

    await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert [r.status for r in connector.requests_for("reply")] == [500, 201]
    assert [r.status for r in connector.requests_for("update")] == [500, 200]
    assert [a["text"] for a in connector.activities_in("a:1chat")] == ["kept, edited"]


async def test_fail_next_403_for_blocked_bot_and_not_installed(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    connector.fail_next("reply", status=403)
    connector.fail_next(
        "create_conversation",
        status=403,
        code="BotNotInConversationRoster",
        message="The bot is not part of the conversation roster.",
    )

    async def logic(turn_context: TurnContext) -> None:
        await turn_context.send_activity("hello?")

    with pytest.raises(ErrorResponseException) as raised:
        await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert raised.value.response.status_code == 403
    assert raised.value.error.error.code == "ConversationBlockedByUser"

    parameters = ConversationParameters(
        members=[ChannelAccount(id="aad-ana")], channel_data={"tenant": {"id": TENANT}}
    )
    with pytest.raises(ErrorResponseException) as raised:
        await adapter.create_conversation("", logic, parameters, "msteams", connector.url)
    assert raised.value.error.error.code == "BotNotInConversationRoster"
    assert connector.sent == []
    assert connector.conversations == {}


async def test_fail_next_on_reads_and_retry_after_for_get_put_delete(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    # urllib3 (under msrest) retries GET/PUT/DELETE - never POST - on 5xx, and on
    # 429/503 *when a Retry-After header is present*, sleeping that long first.
    connector.fail_next("get_member", status=429)
    connector.fail_next("get_member", status=429, retry_after=1)

    async def logic(turn_context: TurnContext) -> None:
        # A continuation activity has no channelData, and TeamsInfo needs some.
        turn_context.activity.channel_data = {"tenant": {"id": TENANT}}
        with pytest.raises(ErrorResponseException) as raised:
            await TeamsInfo.get_member(turn_context, "aad-ana")
        assert raised.value.response.status_code == 429
        started = time.monotonic()
        assert (await TeamsInfo.get_member(turn_context, "aad-ana")).name == "Ana Lima"
        assert time.monotonic() - started >= 1.0

    await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert [r.status for r in connector.requests_for("get_member")] == [429, 429, 200]
    with pytest.raises(ValueError, match="unknown op"):
        connector.fail_next("post", status=500)


# --------------------------------------------------------------------------- validation

VALID = CardFactory.adaptive_card(card("ok")).serialize()


def _with(path: list[str], value: Any) -> dict[str, Any]:
    attachment = copy.deepcopy(VALID)
    target = attachment
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return attachment


_DELETE = object()


@pytest.mark.parametrize(
    ("attachment", "status", "code"),
    [
        (_with(["content", "version"], _DELETE), 400, "BadArgument"),
        (_with(["content", "type"], "HeroCard"), 400, "BadArgument"),
        (_with(["contentType"], "application/json"), 400, "BadArgument"),
        (_with(["content", "body"], {"type": "TextBlock"}), 400, "BadArgument"),
        (_with(["content", "body"], [{"text": "no type"}]), 400, "BadArgument"),
        (_with(["content", "actions"], [{"type": "TextBlock"}]), 400, "BadArgument"),
        (_with(["content", "body", 0, "text"], "x" * MESSAGE_SIZE_LIMIT), 413, "MessageSizeTooBig"),
    ],
    ids=[
        "no-version",
        "not-adaptive",
        "wrong-content-type",
        "body-object",
        "untyped",
        "action",
        "too-big",
    ],
)
async def test_invalid_cards_are_rejected(
    connector: FakeConnector,
    adapter: CloudAdapter,
    attachment: dict[str, Any],
    status: int,
    code: str,
) -> None:
    async def logic(turn_context: TurnContext) -> None:
        activity = MessageFactory.text("")
        activity.text = None
        activity.attachments = [attachment]
        await turn_context.send_activity(activity)

    with pytest.raises(ErrorResponseException) as raised:
        await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert raised.value.response.status_code == status
    assert raised.value.error.error.code == code
    assert connector.sent == []


async def test_message_needs_text_or_attachments_and_valid_card_passes(
    connector: FakeConnector, adapter: CloudAdapter
) -> None:
    async def logic(turn_context: TurnContext) -> None:
        with pytest.raises(ErrorResponseException) as raised:
            await turn_context.send_activity(Activity(type="message"))
        assert raised.value.error.error.message == "Message activity must have text or attachments."
        await turn_context.send_activity(Activity(type="typing"))
        big_but_fine = card("y" * (MESSAGE_SIZE_LIMIT - 500))
        await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(big_but_fine))
        )

    await adapter.continue_conversation(reference(connector, "a:1chat"), logic, "")
    assert [s.activity["type"] for s in connector.sent] == ["typing", "message"]


async def test_requests_are_recorded_and_wait_for(connector: FakeConnector) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(connector.url + "v3/nothing-here") as response:
            assert response.status == 404
        url = connector.url + "amer/v3/conversations/a%3A1x/activities"  # prefix ignored
        async with session.post(url, json={"type": "message", "text": "raw"}) as response:
            assert response.status == 201
            new_id = (await response.json())["id"]

    await connector.wait_for(lambda: connector.activities_in("a:1x"))
    unknown, raw = connector.requests
    assert (unknown.op, unknown.status) == (None, 404)
    assert (raw.method, raw.op, raw.status, raw.json) == (
        "POST",
        "send",
        201,
        {"type": "message", "text": "raw"},
    )
    assert raw.headers["Content-Type"].startswith("application/json")
    assert connector.sent[0].activity_id == new_id
    with pytest.raises(AssertionError, match="condition not met"):
        await connector.wait_for(lambda: len(connector.sent) > 1, timeout=0.05)


async def test_with_authorize_a_call_without_a_valid_token_is_401(adapter: CloudAdapter) -> None:
    seen: list[str | None] = []

    def authorize(header: str | None) -> str | None:
        seen.append(header)
        return None if header == "Bearer good" else "no valid bot token"

    async with FakeConnector(authorize=authorize) as strict:

        async def logic(turn_context: TurnContext) -> None:
            await turn_context.send_activity("hello")

        # The local-mode adapter sends no Authorization header: the service refuses.
        with pytest.raises(ErrorResponseException) as raised:
            await adapter.continue_conversation(reference(strict, "a:1chat"), logic, "")
        assert raised.value.response.status_code == 401
        assert raised.value.error.error.code == "Unauthorized"
        assert strict.sent == [] and seen == [None]
        assert strict.warnings == ["401 for reply: no valid bot token"]

        async with aiohttp.ClientSession() as session:
            url = strict.url + "v3/conversations/a%3A1x/activities"
            message = {"type": "message", "text": "raw"}
            async with session.post(url, json=message, headers={"Authorization": "Bearer good"}):
                pass
        assert [s.text for s in strict.sent] == ["raw"]


# --- which messages Teams delivers to the bot --------------------------------------------------

DESK_BOT = {"id": "28:desk", "name": "Desk"}
CONSENT = {
    "manifestVersion": "1.22",
    "webApplicationInfo": {"id": "00000000-0000-0000-0000-0000000000b0"},
    "authorization": {
        "permissions": {
            "resourceSpecific": [{"name": "ChannelMessage.Read.Group", "type": "Application"}]
        }
    },
}


def said(
    text: str,
    kind: str = "channel",
    *,
    mention: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A message as Teams would pass it on, in a conversation of `kind`."""
    entities = [mention] if mention else []
    return {
        "type": "message",
        "text": text,
        "recipient": DESK_BOT,
        "conversation": {"conversationType": kind, "id": "19:x@thread.tacv2"},
        "entities": entities,
        **extra,
    }


AT_DESK = {"type": "mention", "text": "<at>Desk</at>", "mentioned": DESK_BOT}


def test_without_consent_only_what_mentions_the_bot_reaches_it_from_a_channel() -> None:
    teams = ChannelDelivery.from_manifest({"manifestVersion": "1.22"})
    assert not teams.delivers(said("hello"))
    assert not teams.delivers(said("hello", "groupChat"))
    assert teams.delivers(said("<at>Desk</at> hello", mention=AT_DESK))
    assert teams.delivers(said("<at>Desk</at> hello", "groupChat", mention=AT_DESK))
    # A personal chat, a card action and anything but a message always arrive.
    assert teams.delivers(said("hello", "personal"))
    assert teams.delivers(said("", value={"action": "claim"}))
    assert teams.delivers({"type": "conversationUpdate", "conversation": {"id": "19:x"}})


@pytest.mark.parametrize(
    "mention",
    [
        {"type": "mention", "text": "<at>Fay</at>", "mentioned": {"id": "29:fay"}},
        {"type": "mention", "mentioned": DESK_BOT},  # no text: nothing was @mentioned
        {"type": "mention", "text": "", "mentioned": DESK_BOT},
        {"type": "clientInfo", "text": "<at>Desk</at>", "mentioned": DESK_BOT},
    ],
)
def test_a_mention_of_someone_else_or_of_nothing_is_no_mention(mention: dict[str, Any]) -> None:
    teams = ChannelDelivery.from_manifest({"manifestVersion": "1.22"})
    assert not teams.delivers(said("<at>Fay</at> <at>Desk</at> hello", mention=mention))


def test_a_mention_entity_whose_text_is_not_in_the_message_is_no_mention() -> None:
    teams = ChannelDelivery.from_manifest({"manifestVersion": "1.22"})
    assert not teams.delivers(said("hello", mention=AT_DESK))


def test_with_consent_every_channel_message_arrives_but_group_chats_still_need_a_mention() -> None:
    teams = ChannelDelivery.from_manifest(CONSENT)
    assert teams.delivers(said("hello"))
    assert teams.delivers(said("hello", id="1", replyToId="0"))
    assert not teams.delivers(said("hello", "groupChat"))  # that is ChatMessage.Read.Chat


@pytest.mark.parametrize(
    "spoil",
    [
        lambda m: m["authorization"]["permissions"]["resourceSpecific"][0].update(type="Delegated"),
        lambda m: m["authorization"]["permissions"]["resourceSpecific"][0].update(
            name="ChannelMessage.Send.Group"
        ),
        lambda m: m.pop("webApplicationInfo"),  # consent is given to an Entra app
        lambda m: m.update(manifestVersion="1.11"),  # before authorization.permissions
        lambda m: m.pop("authorization"),
    ],
    ids=["delegated", "another-permission", "no-entra-app", "old-manifest", "none"],
)
def test_consent_counts_only_as_teams_reads_it(spoil: Callable[[dict[str, Any]], Any]) -> None:
    manifest = copy.deepcopy(CONSENT)
    spoil(manifest)
    assert not ChannelDelivery.from_manifest(manifest).delivers(said("hello"))


def test_the_shipped_manifest_lets_replies_in_a_card_chain_reach_the_bot() -> None:
    assert ChannelDelivery.shipped().delivers(said("Is the power light on?"))


async def test_a_delayed_answer_comes_after_the_activity_is_in_the_conversation(
    connector: FakeConnector,
) -> None:
    connector.answer_delay["send"] = 0.5
    url = f"{connector.url}v3/conversations/{quote(CHANNEL_ID)}/activities"
    activity = {"type": "message", "text": "IT-1", "from": BOT}
    async with aiohttp.ClientSession() as http:
        began = time.monotonic()
        posting = asyncio.ensure_future(http.post(url, json=activity))
        await connector.wait_for(lambda: connector.sent)
        assert time.monotonic() - began < 0.4 and not posting.done()
        async with await posting as answer:
            assert answer.status in (200, 201)
        assert time.monotonic() - began >= 0.5
    assert [s.text for s in connector.sent] == ["IT-1"]
