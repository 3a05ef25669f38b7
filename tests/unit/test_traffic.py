"""Background work waits for a lull in the requests being answered, but not forever."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.socket_mode import socket_mode
from bot.traffic import Traffic
from tests.fakes.slack_api import FakeSlack


def answered_when(traffic: Traffic, release: asyncio.Event) -> asyncio.Task[web.StreamResponse]:
    """A request going through the traffic middleware, answered once `release` is set."""

    async def slow_answer(_request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="ok")

    return asyncio.create_task(
        traffic.middleware(make_mocked_request("POST", "/slack/events"), slow_answer)
    )


async def test_background_work_waits_until_no_request_is_being_answered() -> None:
    traffic = Traffic(patience=5.0)
    release = asyncio.Event()
    answering = answered_when(traffic, release)
    await asyncio.sleep(0)
    waiting = asyncio.create_task(traffic.lull())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release.set()
    await answering
    assert await asyncio.wait_for(waiting, 1.0) is True  # a lull, not impatience


async def test_under_sustained_traffic_background_work_goes_on_after_its_patience() -> None:
    traffic = Traffic(patience=0.1)
    never = asyncio.Event()

    async def endless(_request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    answering = asyncio.create_task(
        traffic.middleware(make_mocked_request("POST", "/slack/events"), endless)
    )
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await traffic.lull() is False
    assert 0.09 <= loop.time() - started < 1.0
    answering.cancel()


async def test_a_socket_mode_envelope_being_answered_holds_background_work_back() -> None:
    """Interactive traffic over Slack's Socket Mode connection counts as much as a
    request over HTTP: background work waits while an envelope is being answered."""
    traffic = Traffic(patience=5.0)
    answering = asyncio.Event()
    release = asyncio.Event()
    async with FakeSlack() as slack:
        app = AsyncApp(
            client=AsyncWebClient(base_url=slack.url, token=slack.token), signing_secret=""
        )

        @app.command("/request")
        async def slow(ack: AsyncAck) -> None:
            answering.set()
            await release.wait()
            await ack(text="done")

        handler = socket_mode(app, slack.app_token, traffic)
        await handler.connect_async()
        try:
            await slack.wait_for(lambda: slack.socket_connected)
            assert await asyncio.wait_for(traffic.lull(), 1.0) is True  # nothing in flight
            await slack.socket_send(
                {
                    "type": "slash_commands",
                    "envelope_id": "E1",
                    "accepts_response_payload": True,
                    "payload": {
                        "team_id": "T0TEAM",
                        "channel_id": "C0GENERAL",
                        "user_id": "U0SAM",
                        "command": "/request",
                        "text": "list",
                        "api_app_id": "A0INHOUSE",
                        "response_url": slack.new_response_url(),
                        "trigger_id": slack.new_trigger_id("U0SAM"),
                    },
                }
            )
            await asyncio.wait_for(answering.wait(), 5.0)
            waiting = asyncio.create_task(traffic.lull())
            await asyncio.sleep(0.05)
            assert not waiting.done()
            release.set()
            assert await asyncio.wait_for(waiting, 2.0) is True  # a lull, not impatience
            await slack.wait_for(lambda: bool(slack.socket_acks))
        finally:
            await handler.close_async()
    assert slack.socket_acks == [{"envelope_id": "E1", "payload": {"text": "done"}}]


async def test_quiet_for_counts_from_the_last_answer_and_is_zero_while_answering() -> None:
    """The command pump on SQLite batches filings only once the requests stopped for
    a while (bot/slack/app.py); `quiet_for` is how it knows."""
    traffic = Traffic(patience=5.0)
    release = asyncio.Event()
    answering = answered_when(traffic, release)
    await asyncio.sleep(0.05)
    assert traffic.quiet_for() == 0.0
    release.set()
    await answering
    assert traffic.quiet_for() < 0.05
    await asyncio.sleep(0.1)
    assert 0.09 <= traffic.quiet_for() < 1.0
