"""The fake Slack's outage windows (the fault suite's switchable modes), driven by the
real slack_sdk clients the product uses: what a caller sees in each mode, what
takes effect on Slack's side, and that the window ends by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack_api import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_channel("C1", "general")
        yield fake


def client_of(slack: FakeSlack, timeout: int = 30) -> AsyncWebClient:
    # No retry handlers (slack_sdk retries a dropped connection once by default):
    # the test sees each answer as it comes.
    return AsyncWebClient(base_url=slack.url, token=slack.token, timeout=timeout, retry_handlers=[])


def webhook(url: str) -> AsyncWebhookClient:
    return AsyncWebhookClient(url, retry_handlers=[])


async def post(slack: FakeSlack, text: str = "hi") -> None:
    await client_of(slack).chat_postMessage(channel="C1", text=text)


def posted(slack: FakeSlack) -> list[str]:
    return [message.text for message in slack.messages["C1"]]


@pytest.mark.parametrize(
    ("mode", "status", "error"), [("503", 503, None), ("429", 429, "ratelimited")]
)
async def test_a_refusing_outage_answers_every_call_and_nothing_takes_effect(
    slack: FakeSlack, mode: str, status: int, error: str | None
) -> None:
    slack.blackout(mode, 30, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        await post(slack)
    assert raised.value.response.status_code == status
    if mode == "429":
        assert raised.value.response.headers["Retry-After"] == "7"
        assert raised.value.response["error"] == error
    with pytest.raises(SlackApiError):
        await client_of(slack).users_info(user="U0NOBODY")
    assert posted(slack) == []
    assert slack.outage_refusals == {"chat.postMessage": 1, "users.info": 1}

    url = slack.new_response_url()
    answer = await webhook(url).send(text="Filed IT-1")
    assert answer.status_code == status
    assert slack.responses[url] == []

    slack.end_blackout()
    await post(slack, "after")
    assert posted(slack) == ["after"]
    assert [window[0] for window in slack.outage_windows] == [mode]


async def test_an_outage_ends_by_itself_after_its_seconds(slack: FakeSlack) -> None:
    slack.blackout("503", 0.3)
    assert slack.blackout_mode == "503"
    with pytest.raises(SlackApiError):
        await post(slack)
    await asyncio.sleep(0.35)
    assert slack.blackout_mode is None
    await post(slack, "back")
    assert posted(slack) == ["back"]
    [(mode, begun, ended)] = slack.outage_windows
    assert mode == "503" and 0.25 < ended - begun < 0.4


async def test_a_cut_connection_answers_nothing_and_posts_nothing(slack: FakeSlack) -> None:
    slack.blackout("cut", 30)
    with pytest.raises(aiohttp.ClientError):
        await post(slack)
    url = slack.new_response_url()
    with pytest.raises(aiohttp.ClientError):
        await webhook(url).send(text="Filed IT-1")
    assert posted(slack) == []
    assert slack.responses[url] == []


async def test_a_lost_answer_leaves_the_post_on_slack(slack: FakeSlack) -> None:
    """The harshest mode: Slack did it, the caller cannot know."""
    slack.blackout("lost", 30)
    with pytest.raises(aiohttp.ClientError):
        await post(slack, "did it arrive?")
    assert posted(slack) == ["did it arrive?"]
    url = slack.new_response_url()
    with pytest.raises(aiohttp.ClientError):
        await webhook(url).send(text="Filed IT-1")
    assert [body["text"] for body in slack.responses[url]] == ["Filed IT-1"]
    assert len(slack.response_times[url]) == 1
    assert slack.outage_refusals == {"chat.postMessage": 1, "response_url": 1}


async def test_a_lost_answer_retried_by_slack_sdk_posts_twice(slack: FakeSlack) -> None:
    """slack_sdk's default client retries a dropped connection once: with the
    answer lost, the same message is on Slack twice (what a post without a way to
    look for its earlier attempt does)."""
    slack.blackout("lost", 30)
    with pytest.raises(aiohttp.ClientError):
        await AsyncWebClient(base_url=slack.url, token=slack.token).chat_postMessage(
            channel="C1", text="once?"
        )
    assert posted(slack) == ["once?", "once?"]


async def test_a_slow_slack_posts_at_once_and_answers_late(slack: FakeSlack) -> None:
    slack.blackout("delay", 30, delay=0.5)
    started = time.monotonic()
    task = asyncio.create_task(post(slack, "slow"))
    await slack.wait_for(lambda: posted(slack) == ["slow"], timeout=0.4)
    await task
    assert time.monotonic() - started >= 0.5
    # A client that does not wait that long gives up with the post already made.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(post(slack, "given up"), 0.1)
    assert posted(slack) == ["slow", "given up"]


async def test_a_new_outage_replaces_the_current_one_and_modes_are_checked(
    slack: FakeSlack,
) -> None:
    slack.blackout("503", 30)
    slack.blackout("429", 30)
    assert slack.blackout_mode == "429"
    assert [window[0] for window in slack.outage_windows] == ["503"]
    with pytest.raises(ValueError, match="unknown outage mode"):
        slack.blackout("500", 30)
    with pytest.raises(ValueError, match="positive"):
        slack.blackout("503", 0)
