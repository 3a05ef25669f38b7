"""Tests of the fake Slack Web API, driven by the real slack_sdk AsyncWebClient."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import WSMsgType
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import METHOD_SCOPES, Call, FakeSlack, manifest_bot_scopes

# Every scope any method needs: the fake's own tests call methods the app never does.
EVERY_SCOPE = sorted(
    {
        scope
        for needed in METHOD_SCOPES.values()
        for scope in (needed.values() if isinstance(needed, dict) else needed)
    }
)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(scopes=EVERY_SCOPE) as fake:
        fake.add_channel("C1", "general")
        fake.add_user(
            "U1", email="ana@example.com", name="ana", real_name="Ana Lima", tz="America/Sao_Paulo"
        )
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(base_url=slack.url, token=slack.token)


async def slack_error(awaitable: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await awaitable
    return info.value


async def error_of(awaitable: Any) -> str:
    code: str = (await slack_error(awaitable)).response["error"]
    return code


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Request"},
        "blocks": list(blocks),
        **extra,
    }


# ----------------------------------------------------------------------------- messages


async def test_post_then_update_a_message(slack: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [HeaderBlock(text="New request"), SectionBlock(text="*IT-1* My laptop")]
    before = time.time()
    posted = await client.chat_postMessage(channel="C1", text="IT-1", blocks=blocks)
    second = await client.chat_postMessage(channel="#general", text="next")

    assert posted["ok"] and posted["channel"] == "C1"
    # Slack's ts is when the message was posted, unique and increasing.
    assert before - 1 <= float(posted["ts"]) <= time.time() + 1
    assert float(second["ts"]) > float(posted["ts"])
    assert posted["message"]["text"] == "IT-1" and posted["message"]["bot_id"] == slack.bot_id
    call = slack.calls_to("chat.postMessage")[0]
    assert call.content_type == "application/json"
    assert call.args["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "New request", "emoji": True},
    }

    updated = await client.chat_update(channel="C1", ts=posted["ts"], text="IT-1 (claimed)")
    assert updated["ts"] == posted["ts"] and updated["text"] == "IT-1 (claimed)"
    message = slack.messages["C1"][0]
    assert (message.text, message.edited, message.user) == ("IT-1 (claimed)", 1, "UBOT")
    assert message.blocks == call.args["blocks"]  # blocks kept when not resent

    missing = await slack_error(client.chat_update(channel="C1", ts="1.2", text="x"))
    assert missing.response["error"] == "message_not_found"


async def test_a_slow_answer_comes_after_the_post_is_on_slack(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.answer_delay["chat.postMessage"] = 0.3
    posting = asyncio.ensure_future(client.chat_postMessage(channel="C1", text="IT-1"))
    await slack.wait_for(lambda: bool(slack.messages.get("C1")), timeout=2)
    assert not posting.done()  # on Slack already, the answer still on its way
    posted = await posting
    assert posted["ts"] == slack.messages["C1"][0].ts


async def test_a_lost_answer_leaves_the_post_on_slack(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.fail_next("chat.postMessage", lose_answer=True)
    bare = AsyncWebClient(base_url=slack.url, token=slack.token, retry_handlers=[])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await bare.chat_postMessage(channel="C1", text="IT-1")
    # Done on Slack's side: the message is there, the caller never heard of it.
    assert [m.text for m in slack.messages["C1"]] == ["IT-1"]
    assert slack.calls_to("chat.postMessage")[0].status == 0

    # Why a post must not be retried blindly: slack_sdk's default client retries a
    # dropped connection, and the same message is posted twice.
    slack.fail_next("chat.postMessage", lose_answer=True)
    again = await client.chat_postMessage(channel="C1", text="IT-2")
    assert again["ok"]
    assert [m.text for m in slack.messages["C1"]] == ["IT-1", "IT-2", "IT-2"]


async def test_message_metadata_is_checked_kept_and_shown_only_when_asked_for(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "inhouse_notice", "event_payload": {"notice": 7}}
    posted = await client.chat_postMessage(channel="C1", text="IT-1", metadata=metadata)
    assert posted["message"]["metadata"] == metadata
    assert slack.messages["C1"][0].metadata == metadata
    reply = await client.chat_postMessage(
        channel="C1", text="a line", thread_ts=posted["ts"], metadata=metadata
    )

    plain = await client.conversations_history(channel="C1")
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    thread = await client.conversations_replies(
        channel="C1", ts=posted["ts"], include_all_metadata=True
    )
    assert [m.get("metadata") for m in thread["messages"]] == [metadata, metadata]
    assert thread["messages"][1]["ts"] == reply["ts"]
    bare = await client.conversations_replies(channel="C1", ts=posted["ts"])
    assert all("metadata" not in m for m in bare["messages"])

    for wrong, error in [
        ("not json", "invalid_metadata_format"),
        (["a list"], "invalid_metadata_format"),
        ({"event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "has space", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "notice-1", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": 7, "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "notice", "event_payload": "7"}, "invalid_metadata_schema"),
        ({"event_type": "notice"}, "invalid_metadata_schema"),
    ]:
        refused = client.api_call(
            "chat.postMessage", json={"channel": "C1", "text": "x", "metadata": wrong}
        )
        assert await error_of(refused) == error, wrong
    assert len(slack.messages["C1"]) == 2


async def test_history_needs_the_history_scope_of_the_conversation(slack: FakeSlack) -> None:
    narrow = FakeSlack(scopes=["chat:write", "im:write"])
    async with narrow:
        narrow.add_channel("C1", "general")
        client = AsyncWebClient(base_url=narrow.url, token=narrow.token)
        refused = await slack_error(client.conversations_history(channel="C1"))
        assert refused.response["error"] == "missing_scope"
        assert refused.response["needed"] == "channels:history"
    # The manifest grants every history scope the desk reads its posts back with.
    assert {"channels:history", "groups:history", "im:history", "mpim:history"} <= set(
        manifest_bot_scopes()
    )


async def test_an_outage_fails_every_call_and_response_then_ends(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    url = slack.new_response_url()
    slack.blackout("503", 0.5)
    assert slack.in_outage
    down = await slack_error(client.chat_postMessage(channel="C1", text="IT-1"))
    assert down.response.status_code == 503
    assert (await slack_error(client.users_info(user="U1"))).response.status_code == 503
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": "x"}) as answer:
        assert answer.status == 503
    assert not slack.messages["C1"] and slack.responses[url] == []
    assert slack.response_attempts[url] == 1

    await asyncio.sleep(0.6)
    assert not slack.in_outage
    assert (await client.chat_postMessage(channel="C1", text="IT-1"))["ok"]
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": "x"}) as answer:
        assert answer.status == 200

    slack.blackout("429", 30, retry_after=7)
    limited = await slack_error(client.chat_postMessage(channel="C1", text="IT-2"))
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "7"
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": "y"}) as answer:
        assert (answer.status, answer.headers["Retry-After"]) == (429, "7")
    slack.end_blackout()
    assert (await client.chat_postMessage(channel="C1", text="IT-2"))["ok"]
    assert [m.text for m in slack.messages["C1"]] == ["IT-1", "IT-2"]


async def test_thread_replies_keep_the_thread_root(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    question = slack.add_message("C1", "printer on fire", user="U1")
    reply = await client.chat_postMessage(channel="C1", text="on it", thread_ts=question.ts)
    nested = await client.chat_postMessage(channel="C1", text="done", thread_ts=reply["ts"])

    assert reply["message"]["thread_ts"] == question.ts
    assert slack.messages["C1"][-1].thread_ts == question.ts == nested["message"]["thread_ts"]
    assert slack.calls_to("chat.postMessage")[0].args["thread_ts"] == question.ts
    replies = await client.conversations_replies(channel="C1", ts=question.ts)
    assert [m["text"] for m in replies["messages"]] == ["printer on fire", "on it", "done"]

    # Slack does not refuse an unknown thread_ts; the fake accepts and notes it.
    await client.chat_postMessage(channel="C1", text="lost", thread_ts="1600000000.000001")
    assert slack.messages["C1"][-1].thread_ts == "1600000000.000001"
    assert "1600000000.000001" in slack.warnings[0]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_channel_and_text_errors(slack: FakeSlack, client: AsyncWebClient) -> None:
    assert await error_of(client.chat_postMessage(channel="C404", text="hi")) == "channel_not_found"
    no_channel = client.api_call("chat.postMessage", json={"text": "hi"})
    assert await error_of(no_channel) == "channel_not_found"
    assert await error_of(client.chat_postMessage(channel="C1", text="")) == "no_text"
    too_long = client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert await error_of(too_long) == "msg_too_long"

    slack.add_channel("C2", "secret", is_member=False)
    assert await error_of(client.chat_postMessage(channel="C2", text="hi")) == "not_in_channel"
    assert not slack.messages["C2"]
    assert [c.error for c in slack.calls] == [
        "channel_not_found",
        "channel_not_found",
        "no_text",
        "msg_too_long",
        "not_in_channel",
    ]


async def test_form_encoded_calls_are_decoded(slack: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [section("hello")]
    tokenless = AsyncWebClient(base_url=slack.url)
    await tokenless.api_call(
        "chat.postMessage",
        data={"token": slack.token, "channel": "C1", "text": "hi", "blocks": json.dumps(blocks)},
    )
    assert slack.calls == [
        Call("chat.postMessage", {"channel": "C1", "text": "hi", "blocks": blocks})
    ]
    assert slack.calls[0].content_type == "application/x-www-form-urlencoded"
    assert slack.messages["C1"][0].blocks == blocks

    bad = client.api_call("chat.postMessage", data={"channel": "C1", "blocks": "[{"})
    assert await error_of(bad) == "invalid_blocks_format"


async def test_invalid_message_blocks_are_rejected(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    async def problems(blocks: list[dict[str, Any]]) -> list[str]:
        error = await slack_error(client.chat_postMessage(channel="C1", text="t", blocks=blocks))
        assert error.response["error"] == "invalid_blocks"
        messages: list[str] = error.response["response_metadata"]["messages"]
        return messages

    assert await problems([section("x")] * 51) == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert await problems([section("x" * 3001)]) == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    header = {"type": "header", "text": {"type": "mrkdwn", "text": "*Hi*"}}
    [problem] = await problems([header])
    assert "plain_text" in problem and "/blocks/0/text/type" in problem

    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "go"}
    twice = {"type": "button", "text": {"type": "plain_text", "text": "ok"}, "action_id": "go"}
    found = await problems([{"type": "actions", "elements": [button, twice]}])
    assert (
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
        in found
    )
    assert any("duplicate action_id: go" in p for p in found)
    assert slack.messages["C1"] == []

    # What slack_sdk's models build passes.
    good = [
        HeaderBlock(text="IT-1"),
        ActionsBlock(elements=[ButtonElement(text="Claim", action_id="claim", value="IT-1")]),
    ]
    assert (await client.chat_postMessage(channel="C1", text="t", blocks=good))["ok"]


async def test_ephemeral_permalink_reaction_delete(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    sent = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert sent["message_ts"] and slack.ephemerals["C1"][0].user == "U1"
    stranger = client.chat_postEphemeral(channel="C1", user="U9", text="x")
    assert await error_of(stranger) == "user_not_found"

    posted = await client.chat_postMessage(channel="C1", text="hi")
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert link["permalink"] == (
        f"https://fake.slack.test/archives/C1/p{posted['ts'].replace('.', '')}"
    )

    await client.reactions_add(channel="C1", name="eyes", timestamp=posted["ts"])
    assert slack.messages["C1"][0].reactions == {"eyes": ["UBOT"]}
    again = await slack_error(
        client.reactions_add(channel="C1", name="eyes", timestamp=posted["ts"])
    )
    assert again.response["error"] == "already_reacted"

    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert slack.messages["C1"][0].deleted
    gone = await slack_error(client.chat_getPermalink(channel="C1", message_ts=posted["ts"]))
    assert gone.response["error"] == "message_not_found"


async def test_conversations_open_and_info(slack: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users=["U1"])
    assert opened["channel"]["id"] == "DU1"
    again = await client.conversations_open(users="U1", return_im=True)
    assert again["already_open"] and again["channel"]["user"] == "U1"
    await client.chat_postMessage(channel="DU1", text="your request IT-1")
    assert slack.messages["DU1"][0].text == "your request IT-1"

    info = await client.conversations_info(channel="C1")
    assert info["channel"]["name"] == "general" and info["channel"]["is_member"]
    nobody = await slack_error(client.conversations_open(users=["U404"]))
    assert nobody.response["error"] == "user_not_found"


# ----------------------------------------------------------------------------- views


async def test_views_open_trigger_rules() -> None:
    now = [1000.0]
    async with FakeSlack(clock=lambda: now[0]) as slack:
        client = AsyncWebClient(base_url=slack.url, token=slack.token)
        fresh = slack.new_trigger_id("U1")
        opened = await client.views_open(trigger_id=fresh, view=modal(section("hi")))
        assert opened["view"]["id"] in slack.views
        assert slack.views[opened["view"]["id"]].user == "U1"

        reused = await slack_error(client.views_open(trigger_id=fresh, view=modal(section("hi"))))
        assert reused.response["error"] == "exchanged_trigger_id"

        late = slack.new_trigger_id()
        now[0] += 3.5  # past Slack's 3 second window
        expired = await slack_error(client.views_open(trigger_id=late, view=modal(section("hi"))))
        assert expired.response["error"] == "expired_trigger_id"

        old = slack.new_trigger_id(age=4)
        assert (
            await error_of(client.views_open(trigger_id=old, view=modal(section("hi"))))
            == "expired_trigger_id"
        )

        unknown = await slack_error(client.views_open(trigger_id="1.2.3", view=modal(section("x"))))
        assert unknown.response["error"] == "invalid_trigger_id"


async def test_modal_validation(slack: FakeSlack, client: AsyncWebClient) -> None:
    async def problems(view: dict[str, Any]) -> list[str]:
        error = await slack_error(client.views_open(trigger_id=slack.new_trigger_id(), view=view))
        assert error.response["error"] == "invalid_arguments"
        messages: list[str] = error.response["response_metadata"]["messages"]
        return messages

    title = await problems(modal(section("x"), title={"type": "plain_text", "text": "t" * 25}))
    assert title == ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]

    field = InputBlock(label="Title", element=PlainTextInputElement(action_id="title")).to_dict()
    assert any("submit" in p for p in await problems(modal(field)))

    options = [
        {"text": {"type": "plain_text", "text": f"o{i}"}, "value": f"v{i}"} for i in range(101)
    ]
    select = {"type": "static_select", "action_id": "team", "options": options}
    select_input = {
        "type": "input",
        "label": {"type": "plain_text", "text": "Team"},
        "element": select,
    }
    assert (
        "/view/blocks/0/element/options"
        in (await problems(modal(select_input, submit={"type": "plain_text", "text": "File"})))[0]
    )

    label_mrkdwn = dict(field, label={"type": "mrkdwn", "text": "Title"})
    assert any(
        "/view/blocks/0/label/type" in p
        for p in await problems(modal(label_mrkdwn, submit={"type": "plain_text", "text": "Go"}))
    )
    assert any(
        "private_metadata" in p
        for p in await problems(modal(section("x"), private_metadata="m" * 3001))
    )
    assert any("no more than 100 items" in p for p in await problems(modal(*[section("x")] * 101)))


async def test_views_update_push_and_publish(slack: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.views_open(
        trigger_id=slack.new_trigger_id("U1"), view=modal(section("1"), external_id="req-1")
    )
    view = opened["view"]
    updated = await client.views_update(
        view_id=view["id"], hash=view["hash"], view=modal(section("2"))
    )
    assert updated["view"]["hash"] != view["hash"]
    conflict = await slack_error(
        client.views_update(view_id=view["id"], hash=view["hash"], view=modal(section("3")))
    )
    assert conflict.response["error"] == "hash_conflict"
    by_external = await client.views_update(
        external_id="req-1", view=modal(section("4"), external_id="req-1")
    )
    assert by_external["view"]["id"] == view["id"]
    assert slack.views[view["id"]].view["blocks"][0]["text"]["text"] == "4"
    assert (
        await error_of(client.views_update(view_id="V404", view=modal(section("x")))) == "not_found"
    )

    pushed = await client.views_push(
        trigger_id=slack.new_trigger_id("U1"), view=modal(section("p"))
    )
    assert pushed["view"]["root_view_id"] == view["id"]

    home = {"type": "home", "blocks": [section("Your requests")]}
    published = await client.views_publish(user_id="U1", view=home)
    assert slack.home_views["U1"] == home and published["view"]["type"] == "home"
    stale = await slack_error(client.views_publish(user_id="U1", view=home, hash="0.stale"))
    assert stale.response["error"] == "hash_conflict"
    not_home = await slack_error(client.views_publish(user_id="U1", view=modal(section("x"))))
    assert not_home.response["error"] == "invalid_arguments"


# ----------------------------------------------------------------------------- users


async def test_users_info_and_lookup(slack: FakeSlack, client: AsyncWebClient) -> None:
    plain = await client.users_info(user="U1")
    assert "locale" not in plain["user"]
    info = await client.users_info(user="U1", include_locale=True)
    user = info["user"]
    assert user["locale"] == "en-US" and user["tz"] == "America/Sao_Paulo"
    assert user["tz_offset"] == -3 * 3600 and user["real_name"] == "Ana Lima"
    assert user["profile"]["email"] == "ana@example.com" and user["is_bot"] is False
    assert slack.calls_to("users.info")[1].http_method == "GET"

    found = await client.users_lookupByEmail(email="ANA@example.com")
    assert found["user"]["id"] == "U1"
    miss = await slack_error(client.users_lookupByEmail(email="nobody@example.com"))
    assert miss.response["error"] == "users_not_found"
    assert await error_of(client.users_info(user="U404")) == "user_not_found"

    # Like Slack, users.info ignores arguments in a JSON body.
    as_json = await slack_error(client.api_call("users.info", json={"user": "U1"}))
    assert as_json.response["error"] == "user_not_found"
    assert "JSON" in as_json.response["response_metadata"]["messages"][0]


# ----------------------------------------------------------------------------- failures


async def test_rate_limit_is_retried_after_retry_after(slack: FakeSlack) -> None:
    client = AsyncWebClient(
        base_url=slack.url, token=slack.token, retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    response = await client.chat_postMessage(channel="C1", text="hi")
    assert response["ok"] and time.monotonic() - started >= 1.0

    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, first.error, second.status) == (429, "ratelimited", 200)
    assert second.at - first.at >= 1.0
    assert len(slack.messages["C1"]) == 1

    # Without a retry handler the 429 surfaces as SlackApiError with the header.
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    plain = AsyncWebClient(base_url=slack.url, token=slack.token)
    error = await slack_error(plain.chat_postMessage(channel="C1", text="hi"))
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "7"


async def test_server_error_is_retried(slack: FakeSlack) -> None:
    handler = AsyncServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = AsyncWebClient(base_url=slack.url, token=slack.token, retry_handlers=[handler])
    slack.fail_next("users.info", status=500, times=2)
    assert (await client.users_info(user="U1"))["user"]["id"] == "U1"
    assert [c.status for c in slack.calls_to("users.info")] == [500, 500, 200]

    slack.fail_next("users.info", status=503, times=3)
    error = await slack_error(client.users_info(user="U1"))
    assert error.response.status_code == 503


async def test_dropped_connection_is_retried(slack: FakeSlack) -> None:
    handler = AsyncConnectionErrorRetryHandler(
        interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = AsyncWebClient(base_url=slack.url, token=slack.token, retry_handlers=[handler])
    slack.fail_next("auth.test", disconnect=True)
    assert (await client.auth_test())["user_id"] == "UBOT"
    assert [c.status for c in slack.calls_to("auth.test")] == [0, 200]


async def test_injected_error_and_auth(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next("chat.postMessage", error="channel_not_found")
    injected = await slack_error(client.chat_postMessage(channel="C1", text="hi"))
    assert (
        injected.response.status_code == 200 and injected.response["error"] == "channel_not_found"
    )

    wrong = AsyncWebClient(base_url=slack.url, token="xoxb-wrong")
    assert await error_of(wrong.auth_test()) == "invalid_auth"
    anonymous = AsyncWebClient(base_url=slack.url)
    assert await error_of(anonymous.auth_test()) == "not_authed"
    unknown = await slack_error(client.api_call("chat.shout", json={"text": "hi"}))
    assert unknown.response["error"] == "unknown_method"
    assert not slack.messages["C1"]


# ----------------------------------------------------------------------------- oauth


def authorize_url(client_id: str, scope: str = "commands,chat:write", user_scope: str = "") -> str:
    query = {"client_id": client_id, "scope": scope, "user_scope": user_scope, "state": "s1"}
    return f"https://slack.com/oauth/v2/authorize?{urlencode(query)}"


async def test_oauth_code_is_exchanged_once_for_the_bot_token(slack: FakeSlack) -> None:
    anonymous = AsyncWebClient(base_url=slack.url)
    code = slack.approve_install(authorize_url(slack.client_id), user="U1")

    granted = await anonymous.oauth_v2_access(
        client_id=slack.client_id, client_secret=slack.client_secret, code=code
    )
    assert granted["access_token"] == slack.token
    assert granted["team"] == {"id": slack.team_id, "name": slack.team_name}
    assert granted["scope"] == "commands,chat:write"
    assert granted["authed_user"] == {"id": "U1"}  # no user scopes: no user token

    # A code is good for one exchange.
    again = anonymous.oauth_v2_access(
        client_id=slack.client_id, client_secret=slack.client_secret, code=code
    )
    assert await error_of(again) == "invalid_code"


async def test_oauth_refuses_wrong_credentials_and_stale_codes() -> None:
    now = [0.0]
    async with FakeSlack(clock=lambda: now[0]) as slack:
        anonymous = AsyncWebClient(base_url=slack.url)
        code = slack.approve_install(authorize_url(slack.client_id))
        wrong_secret = anonymous.oauth_v2_access(
            client_id=slack.client_id, client_secret="guess", code=code
        )
        assert await error_of(wrong_secret) == "bad_client_secret"
        wrong_app = anonymous.oauth_v2_access(
            client_id="999.999", client_secret=slack.client_secret, code=code
        )
        assert await error_of(wrong_app) == "invalid_client_id"
        now[0] += 11 * 60
        stale = anonymous.oauth_v2_access(
            client_id=slack.client_id, client_secret=slack.client_secret, code=code
        )
        assert await error_of(stale) == "invalid_code"
        with pytest.raises(ValueError, match="client_id"):
            slack.approve_install(authorize_url("999.999"))


async def test_oauth_with_user_scopes_gives_a_user_token(slack: FakeSlack) -> None:
    code = slack.approve_install(authorize_url(slack.client_id, user_scope="search:read"))
    granted = await AsyncWebClient(base_url=slack.url).oauth_v2_access(
        client_id=slack.client_id, client_secret=slack.client_secret, code=code
    )
    assert granted["authed_user"]["access_token"] == slack.user_token
    as_installer = AsyncWebClient(base_url=slack.url, token=slack.user_token)
    assert (await as_installer.auth_test())["ok"]


# ----------------------------------------------------------------------------- files


async def test_files_upload_v2_end_to_end(slack: FakeSlack, client: AsyncWebClient) -> None:
    root = slack.add_message("C1", "logs please", user="U1")
    result = await client.files_upload_v2(
        channel="C1",
        content=b"line 1\nline 2\n",
        filename="app.log",
        title="App log",
        initial_comment="Here you go",
        thread_ts=root.ts,
    )
    file_id = result["file"]["id"]
    uploaded = slack.files[file_id]
    assert uploaded.content == b"line 1\nline 2\n" and uploaded.completed
    assert (uploaded.filename, uploaded.title) == ("app.log", "App log")
    assert (uploaded.channel_id, uploaded.thread_ts) == ("C1", root.ts)
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert slack.calls[1].args["files"] == [{"id": file_id, "title": "App log"}]
    shared = slack.messages["C1"][-1]
    assert (shared.files, shared.text, shared.thread_ts) == ([file_id], "Here you go", root.ts)

    url = await client.files_getUploadURLExternal(filename="x.txt", length=3)
    assert url["upload_url"].startswith(slack.url.removesuffix("api/"))
    never_sent = await slack_error(
        client.files_completeUploadExternal(files=[{"id": url["file_id"]}])
    )
    assert never_sent.response["error"] == "file_not_found"


# ----------------------------------------------------------------------------- Bolt, helpers


async def test_bolt_app_opens_a_modal_through_the_fake(slack: FakeSlack) -> None:
    app = AsyncApp(
        client=AsyncWebClient(base_url=slack.url, token=slack.token),
        signing_secret="secret",
        request_verification_enabled=False,
    )

    @app.action("file_request")
    async def open_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=modal(section("Form")))

    payload = {
        "type": "block_actions",
        "team": {"id": slack.team_id},
        "user": {"id": "U1", "team_id": slack.team_id},
        "api_app_id": "A0APP",
        "trigger_id": slack.new_trigger_id("U1"),
        "channel": {"id": "C1"},
        "container": {"type": "message", "channel_id": "C1"},
        "actions": [{"type": "button", "action_id": "file_request", "block_id": "b", "value": "x"}],
    }
    response = await app.async_dispatch(
        AsyncBoltRequest(
            body=urlencode({"payload": json.dumps(payload)}),
            headers={"content-type": ["application/x-www-form-urlencoded"]},
        )
    )
    assert response.status == 200
    await slack.wait_for(lambda: bool(slack.calls_to("views.open")))
    assert [c.method for c in slack.calls] == ["auth.test", "views.open"]
    assert [v.user for v in slack.views.values()] == ["U1"]


async def test_wait_for_explains_a_timeout(slack: FakeSlack) -> None:
    with pytest.raises(AssertionError, match=r"within 0.05s.*chat\.postMessage"):
        await slack.wait_for(lambda: bool(slack.calls_to("chat.postMessage")), timeout=0.05)


async def test_socket_mode_with_the_real_client(slack: FakeSlack, client: AsyncWebClient) -> None:
    """slack_sdk's Socket Mode client connects, receives an envelope and acknowledges it;
    apps.connections.open takes the app-level token only, as Slack does."""
    assert await error_of(client.apps_connections_open(app_token=slack.token)) == (
        "not_allowed_token_type"
    )
    socket = SocketModeClient(
        app_token=slack.app_token, web_client=AsyncWebClient(base_url=slack.url)
    )
    received: list[SocketModeRequest] = []

    async def acknowledge(client: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "hi"})
        )

    socket.socket_mode_request_listeners.append(acknowledge)  # type: ignore[arg-type]
    await socket.connect()
    try:
        await slack.wait_for(lambda: slack.socket_connected)
        await slack.socket_send(
            {"type": "events_api", "envelope_id": "E1", "payload": {"event": {"type": "x"}}}
        )
        await slack.wait_for(lambda: bool(slack.socket_acks))
    finally:
        await socket.close()
    assert [r.envelope_id for r in received] == ["E1"]
    assert slack.socket_acks == [{"envelope_id": "E1", "payload": {"text": "hi"}}]


class SocketApp:
    """slack_sdk's own Socket Mode client, pinging every second so a lost connection
    is noticed quickly (not faster: four missed pongs make it reconnect, and a busy
    test machine can be slow to answer), acknowledging every envelope it gets."""

    def __init__(self, slack: FakeSlack) -> None:
        self.client = SocketModeClient(
            app_token=slack.app_token,
            web_client=AsyncWebClient(base_url=slack.url),
            ping_interval=1.0,
        )
        self.received: list[SocketModeRequest] = []
        self.client.socket_mode_request_listeners.append(self.acknowledge)  # type: ignore[arg-type]

    async def acknowledge(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.received.append(request)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))


@pytest.fixture
async def socket_app(slack: FakeSlack) -> AsyncIterator[SocketApp]:
    app = SocketApp(slack)
    await app.client.connect()
    await slack.wait_for(lambda: slack.socket_connected)
    try:
        yield app
    finally:
        await app.client.close()


def envelope(envelope_id: str) -> dict[str, Any]:
    return {
        "type": "events_api",
        "envelope_id": envelope_id,
        "accepts_response_payload": False,
        "payload": {"type": "event_callback", "event_id": f"Ev{envelope_id}", "event": {}},
    }


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_socket_disconnect_message_makes_the_client_move_to_a_new_connection(
    slack: FakeSlack, socket_app: SocketApp, reason: str
) -> None:
    await slack.socket_disconnect(reason)
    # A new URL, a new connection, and the old one closed by the client itself.
    await slack.wait_for(lambda: len(slack.calls_to("apps.connections.open")) == 2)
    await slack.wait_for(lambda: slack.socket_connections == 1)
    await slack.socket_send(envelope("E2"))
    await slack.wait_for(lambda: bool(slack.socket_acks))
    assert [a["envelope_id"] for a in slack.socket_acks] == ["E2"]


async def test_socket_disconnect_closes_the_connection_a_client_keeps(slack: FakeSlack) -> None:
    opened = await AsyncWebClient(base_url=slack.url).apps_connections_open(
        app_token=slack.app_token
    )
    async with aiohttp.ClientSession() as http, http.ws_connect(opened["url"]) as socket:
        assert (await socket.receive_json())["type"] == "hello"
        await slack.socket_disconnect("warning", close_after=0.1)
        assert await socket.receive_json() == {
            "type": "disconnect",
            "reason": "warning",
            "debug_info": {"host": "fake-slack"},
        }
        assert (await socket.receive(timeout=2)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    # A URL is good for one connection.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(opened["url"])


async def test_an_envelope_whose_ack_was_lost_comes_again_on_the_next_connection(
    slack: FakeSlack, socket_app: SocketApp
) -> None:
    await slack.socket_send(envelope("E1"), then_cut=True)
    # The client got it, but its acknowledgement went nowhere; it reconnects, and
    # Slack sends the envelope again, saying it is a retry.
    await slack.wait_for(lambda: len(slack.calls_to("apps.connections.open")) == 2)
    await slack.wait_for(lambda: bool(slack.socket_acks))
    assert [(r.envelope_id, r.retry_attempt) for r in socket_app.received] == [
        ("E1", None),
        ("E1", 1),
    ]
    assert socket_app.received[1].retry_reason == "timeout"
    assert [a["envelope_id"] for a in slack.socket_acks] == ["E1"]
    # Acknowledged now: a further reconnect does not bring it back.
    await slack.socket_cut()
    await slack.wait_for(lambda: len(slack.calls_to("apps.connections.open")) == 3)
    await slack.wait_for(lambda: slack.socket_connected)
    await slack.socket_send(envelope("E3"))
    await slack.wait_for(lambda: len(slack.socket_acks) == 2)
    assert [r.envelope_id for r in socket_app.received] == ["E1", "E1", "E3"]


# ----------------------------------------------------------------------------- reading


async def test_history_lists_top_level_messages_only_and_honours_the_range(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    first = slack.add_message("C1", "first", user="U1")
    root = slack.add_message("C1", "printer?", user="U1")
    reply = slack.add_message("C1", "the one on 3", user="U1", thread_ts=root.ts)
    last = slack.add_message("C1", "last", user="U1")

    everything = await client.conversations_history(channel="C1")
    assert [m["text"] for m in everything["messages"]] == ["last", "printer?", "first"]
    # The reply is no top-level message: asking for it by its ts finds nothing.
    exactly = await client.conversations_history(
        channel="C1", oldest=reply.ts, latest=reply.ts, inclusive=True
    )
    assert exactly["messages"] == []
    before_last = await client.conversations_history(channel="C1", latest=last.ts, limit=1)
    assert [m["ts"] for m in before_last["messages"]] == [root.ts]
    assert before_last["has_more"] is True
    inclusive = await client.conversations_history(
        channel="C1", oldest=first.ts, latest=root.ts, inclusive=True
    )
    assert [m["ts"] for m in inclusive["messages"]] == [root.ts, first.ts]


async def test_replies_find_any_message_by_its_ts_with_the_parent_first(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    root = slack.add_message("C1", "printer?", user="U1")
    slack.add_message("C1", "the one on 3", user="U1", thread_ts=root.ts)
    second = slack.add_message("C1", "it jams", user="U1", thread_ts=root.ts)
    lonely = slack.add_message("C1", "unthreaded", user="U1")

    found = await client.conversations_replies(
        channel="C1", ts=second.ts, oldest=second.ts, latest=second.ts, inclusive=True
    )
    assert [m["text"] for m in found["messages"]] == ["printer?", "it jams"]
    alone = await client.conversations_replies(channel="C1", ts=lonely.ts)
    assert [m["text"] for m in alone["messages"]] == ["unthreaded"]
    assert await error_of(client.conversations_replies(channel="C1", ts="1.5")) == (
        "thread_not_found"
    )


# ----------------------------------------------------------------------------- scopes


async def test_a_token_holds_the_manifests_scopes_and_no_more() -> None:
    async with FakeSlack() as slack:
        slack.add_channel("C1", "general")
        client = AsyncWebClient(base_url=slack.url, token=slack.token)
        answer = await client.auth_test()
        assert sorted(answer.headers["x-oauth-scopes"].split(",")) == sorted(manifest_bot_scopes())
        posted = await client.chat_postMessage(channel="C1", text="hello")
        refused = await slack_error(
            client.reactions_add(channel="C1", timestamp=posted["ts"], name="eyes")
        )
    assert refused.response["error"] == "missing_scope"
    assert refused.response["needed"] == "reactions:write"
    assert sorted(refused.response["provided"].split(",")) == sorted(manifest_bot_scopes())
    assert not slack.messages["C1"][0].reactions  # refused means nothing happened


async def test_a_conversations_scope_depends_on_its_kind() -> None:
    async with FakeSlack(scopes=["channels:history", "chat:write"]) as slack:
        slack.add_user("U1", email="ana@example.com")
        slack.add_user("U2", email="bo@example.com")
        slack.add_channel("C1", "general")
        slack.add_channel("G1", "secret", is_private=True)
        slack.add_channel("DU1")
        slack.add_group_dm("G2", ["U1", "U2"])
        for channel in ("C1", "G1", "DU1", "G2"):
            slack.add_message(channel, "hi", user="U1")
        client = AsyncWebClient(base_url=slack.url, token=slack.token)

        assert (await client.conversations_history(channel="C1"))["messages"]
        needed = {}
        for channel in ("G1", "DU1", "G2"):
            error = await slack_error(client.conversations_replies(channel=channel, ts="1.0"))
            needed[channel] = (error.response["error"], error.response["needed"])
        opened = await slack_error(client.conversations_open(users="U1"))
        group = await slack_error(client.conversations_open(users="U1,U2"))
    assert needed == {
        "G1": ("missing_scope", "groups:history"),
        "DU1": ("missing_scope", "im:history"),
        "G2": ("missing_scope", "mpim:history"),
    }
    assert opened.response["needed"] == "im:write"
    assert group.response["needed"] == "mpim:write"


async def test_an_email_is_shown_only_with_users_read_email() -> None:
    async with FakeSlack(scopes=["users:read"]) as slack:
        slack.add_user("U1", email="ana@example.com")
        client = AsyncWebClient(base_url=slack.url, token=slack.token)
        profile = (await client.users_info(user="U1"))["user"]["profile"]
        lookup = await slack_error(client.users_lookupByEmail(email="ana@example.com"))
    assert "email" not in profile
    assert lookup.response["needed"] == "users:read.email"


async def test_an_oauth_token_holds_what_the_install_asked_for() -> None:
    async with FakeSlack(scopes=[]) as slack:
        slack.add_channel("C1", "general")
        code = slack.approve_install(authorize_url(slack.client_id, scope="commands,chat:write"))
        granted = await AsyncWebClient(base_url=slack.url).oauth_v2_access(
            client_id=slack.client_id, client_secret=slack.client_secret, code=code
        )
        client = AsyncWebClient(base_url=slack.url, token=granted["access_token"])
        assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
        missing = await slack_error(client.files_upload_v2(channel="C1", content=b"x"))
    assert missing.response["error"] == "missing_scope"
    assert missing.response["needed"] == "files:write"
    assert missing.response["provided"] == "chat:write,commands"


# ----------------------------------------------------------------------------- workspaces


async def test_each_workspace_has_its_own_token_and_sees_only_its_own() -> None:
    async with FakeSlack() as slack:
        slack.add_workspace("T0BETA", "Beta", installed=False)
        slack.add_user("U1", email="ana@example.com")
        slack.add_user("U9", email="zed@example.com", team="T0BETA")
        slack.add_channel("C1", "general")
        slack.add_channel("C9", "beta-general", team="T0BETA")
        beta_token = slack.token_of("T0BETA")
        not_yet = AsyncWebClient(base_url=slack.url, token=beta_token)
        assert await error_of(not_yet.auth_test()) == "invalid_auth"  # not installed yet

        code = slack.approve_install(
            authorize_url(slack.client_id, scope=",".join(manifest_bot_scopes())),
            user="U9",
            team="T0BETA",
        )
        granted = await AsyncWebClient(base_url=slack.url).oauth_v2_access(
            client_id=slack.client_id, client_secret=slack.client_secret, code=code
        )
        assert granted["team"] == {"id": "T0BETA", "name": "Beta"}
        assert granted["access_token"] == beta_token != slack.token
        alpha = AsyncWebClient(base_url=slack.url, token=slack.token)
        beta = AsyncWebClient(base_url=slack.url, token=beta_token)
        assert (await beta.auth_test())["team_id"] == "T0BETA"
        assert (await beta.chat_postMessage(channel="C9", text="hi"))["ok"]

        # Another workspace's channel, person or email is unknown to a token.
        assert await error_of(beta.chat_postMessage(channel="C1", text="hi")) == (
            "channel_not_found"
        )
        assert await error_of(alpha.chat_postMessage(channel="C9", text="hi")) == (
            "channel_not_found"
        )
        assert await error_of(beta.users_info(user="U1")) == "user_not_found"
        assert await error_of(beta.conversations_open(users="U1")) == "user_not_found"
        assert await error_of(alpha.users_lookupByEmail(email="zed@example.com")) == (
            "users_not_found"
        )
        assert (await beta.users_lookupByEmail(email="zed@example.com"))["user"]["id"] == "U9"
        posted = [c for c in slack.calls_to("chat.postMessage") if c.ok]
        assert [(c.args["channel"], c.workspace) for c in posted] == [("C9", "T0BETA")]
        assert slack.messages["C9"][0].user == slack.workspaces["T0BETA"].bot_user_id
        assert not slack.messages["C1"]


async def test_an_uninstalled_workspace_token_is_revoked_and_a_new_install_gets_a_new_one() -> None:
    async with FakeSlack() as slack:
        slack.add_channel("C1", "general")
        old = slack.token
        slack.uninstall(slack.team_id)
        revoked = AsyncWebClient(base_url=slack.url, token=old)
        assert await error_of(revoked.chat_postMessage(channel="C1", text="hi")) == (
            "token_revoked"
        )
        code = slack.approve_install(
            authorize_url(slack.client_id, scope=",".join(manifest_bot_scopes()))
        )
        granted = await AsyncWebClient(base_url=slack.url).oauth_v2_access(
            client_id=slack.client_id, client_secret=slack.client_secret, code=code
        )
        assert granted["access_token"] == slack.token != old
        again = AsyncWebClient(base_url=slack.url, token=slack.token)
        assert (await again.chat_postMessage(channel="C1", text="hi"))["ok"]
        assert await error_of(revoked.auth_test()) == "token_revoked"


async def test_an_answer_that_replaces_the_original_shows_once(slack: FakeSlack) -> None:
    url = slack.new_response_url()
    async with aiohttp.ClientSession() as http:
        for text in ("Filed IT-1", "Filed IT-1", "and a second note"):
            replace = text.startswith("Filed")
            body = {"text": text, "response_type": "ephemeral", "replace_original": replace}
            async with http.post(url, json=body) as answer:
                assert answer.status == 200
    assert len(slack.responses[url]) == 3
    assert [body["text"] for body in slack.shown(url)] == ["Filed IT-1", "and a second note"]
