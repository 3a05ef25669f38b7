"""A crash never posts twice in Slack: every post names its notice in message
metadata, and a notice whose earlier attempt may have reached Slack is looked for
there before it is posted again (docs/architecture.md, Outbox).

Slack here performs the post and then cuts the connection without answering
(`fail_next(..., lose_answer=True)`: a crash, or a cut after Slack accepted the
call), so the desk never hears of its post; on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from handlers.digest import queue_digests
from models.digest_slot import WEEKDAYS
from models.directory import DeskSettings
from models.outbox import OutboxMessage
from tests.adapters.slack.conftest import SlackWorld, running

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def world(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int, database_url: str
) -> AsyncIterator[SlackWorld]:
    async with running(
        tmp_path, sqlite_template, unused_tcp_port, database_url=database_url
    ) as world:
        yield world


async def notice(world: SlackWorld, kind: str, key: str | None = None) -> OutboxMessage:
    async with world.runtime.sessions() as session:
        rows = [
            row
            for row in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
            if key is None or row.payload.get("request", {}).get("key") == key
        ]
    assert rows, f"no {kind} notice"
    return rows[-1]


async def retry_now(world: SlackWorld) -> Any:
    """The backoff is over: the dispatch loop tries again."""
    async with world.runtime.sessions.begin() as session:
        await session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))
    return await world.deliver()


def top_level(world: SlackWorld, channel: str) -> list[Any]:
    return [m for m in world.fake.messages.get(channel, []) if m.thread_ts in (None, m.ts)]


def lookups(world: SlackWorld, method: str) -> list[dict[str, Any]]:
    return [c.args for c in world.fake.calls_to(method)]


async def test_a_card_a_dm_and_a_thread_line_whose_answers_are_lost_are_posted_once(
    world: SlackWorld,
) -> None:
    fake, driver = world.fake, world.driver

    # The team card: on Slack, its answer cut.
    fake.fail_next("chat.postMessage", lose_answer=True)
    assert "Filed IT-1" in await world.say("U0SAM", "it Printer on fire")
    card_notice = await notice(world, "team_card")
    assert card_notice.delivered_at is None and card_notice.maybe_sent
    assert len(top_level(world, "C0ITDESK")) == 1
    await retry_now(world)
    cards = top_level(world, "C0ITDESK")
    assert len(cards) == 1, [m.text for m in cards]
    card_notice = await notice(world, "team_card")
    # The outbox row records the post that was there (its ts), so edits find it.
    assert card_notice.delivered_at is not None
    assert card_notice.message_ref == {"conversation": "C0ITDESK", "message": cards[0].ts}
    assert cards[0].metadata == {
        "event_type": "inhouse_notice",
        "event_payload": {"notice": card_notice.id},
    }
    [history] = lookups(world, "conversations.history")
    assert history["channel"] == "C0ITDESK" and history["include_all_metadata"] in (True, "1")
    assert float(history["oldest"]) <= float(cards[0].ts)
    assert len(fake.calls_to("chat.postMessage")) == 1  # looked, found, not posted again

    # Alice answers in the card's thread (found by the recorded ts): Sam's DM is
    # on Slack, its answer cut.
    fake.fail_next("chat.postMessage", lose_answer=True)
    await driver.event(
        {
            "type": "message",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "user": "U0ALICE",
            "text": "Is the power light on?",
            "ts": "1800000000.000100",
            "thread_ts": cards[0].ts,
        }
    )
    await world.eventually(lambda: _reply_queued(world))
    await world.deliver()
    assert len(world.dms("U0SAM")) == 1 and (await notice(world, "reply")).maybe_sent
    await retry_now(world)
    replies = [m for m in world.dms("U0SAM") if "power light" in str(m.blocks)]
    assert len(replies) == 1, [m.text for m in world.dms("U0SAM")]
    assert (await notice(world, "reply")).message_ref == {
        "conversation": "DU0SAM",
        "message": replies[0].ts,
    }
    assert lookups(world, "conversations.history")[-1]["channel"] == "DU0SAM"

    # Sam answers in that DM's thread (found by the recorded ts): the line in the
    # card's thread is on Slack, its answer cut.
    fake.fail_next("chat.postMessage", lose_answer=True)
    await driver.event(
        {
            "type": "message",
            "channel": "DU0SAM",
            "channel_type": "im",
            "user": "U0SAM",
            "text": "No light at all",
            "ts": "1800000000.000200",
            "thread_ts": replies[0].ts,
        }
    )
    await world.eventually(lambda: _thread_line_queued(world))
    await world.deliver()
    await retry_now(world)
    lines = [
        m
        for m in fake.messages["C0ITDESK"]
        if m.thread_ts == cards[0].ts != m.ts and "No light" in m.text
    ]
    assert len(lines) == 1, [m.text for m in fake.messages["C0ITDESK"]]
    [thread] = lookups(world, "conversations.replies")
    assert thread["ts"] == cards[0].ts and thread["include_all_metadata"] in (True, "1")
    async with world.runtime.sessions() as session:
        waiting = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
        )
        assert list(waiting) == []


async def _reply_queued(world: SlackWorld) -> bool:
    async with world.runtime.sessions() as session:
        return (
            await session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "reply"))
            is not None
        )


async def _thread_line_queued(world: SlackWorld) -> bool:
    async with world.runtime.sessions() as session:
        return (
            await session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.kind == "team_thread")
            )
            is not None
        )


async def test_a_post_slack_never_received_is_posted_after_looking(world: SlackWorld) -> None:
    # A 500 may or may not have posted: the next attempt looks, finds nothing, posts.
    world.fake.fail_next("chat.postMessage", status=500)
    await world.say("U0SAM", "it Printer on fire")
    assert (await notice(world, "team_card")).maybe_sent
    await retry_now(world)
    assert len(top_level(world, "C0ITDESK")) == 1
    assert len(lookups(world, "conversations.history")) == 1
    # A 503 or a 429 says Slack did not take the call: no lookup, just a retry.
    world.fake.fail_next("chat.postMessage", status=503)
    await world.say("U0SAM", "it Mouse broken")
    assert not (await notice(world, "team_card", "IT-2")).maybe_sent
    await retry_now(world)
    assert len(top_level(world, "C0ITDESK")) == 2
    assert len(lookups(world, "conversations.history")) == 1


async def test_a_quick_file_answered_by_dm_is_posted_once_when_its_answer_is_lost(
    world: SlackWorld,
) -> None:
    fake = world.fake
    spent = fake.new_response_url()
    fake.responses[spent].extend([{"text": "earlier"}] * 5)  # Slack allows 5 uses
    # The card's post and the DM with the answer both reach Slack; both answers cut.
    fake.fail_next("chat.postMessage", lose_answer=True, times=2)
    body = world.driver.command_body("U0SAM", "it Printer on fire", response_url=spent)
    sent = await world.driver.post(body, "application/x-www-form-urlencoded")
    assert sent.status == 200
    await world.eventually(lambda: world.dms("U0SAM"))
    await world.dispatcher.settled()
    assert (await notice(world, "command_answer")).maybe_sent
    await retry_now(world)
    answers = [m for m in world.dms("U0SAM") if "Filed IT-1" in m.text]
    assert len(answers) == 1, [m.text for m in world.dms("U0SAM")]
    assert len(top_level(world, "C0ITDESK")) == 1
    assert len(fake.responses[spent]) == 5  # the spent URL took nothing more
    answer = await notice(world, "command_answer")
    assert answer.delivered_at is not None
    assert answer.message_ref == {"conversation": "DU0SAM", "message": answers[0].ts}


async def test_a_digest_is_posted_once_and_its_chart_shared_once(world: SlackWorld) -> None:
    fake = world.fake
    await world.say("U0SAM", "it Printer on fire")
    now = datetime.now(UTC)
    week = "{}-W{:02d}".format(*now.isocalendar()[:2])
    async with world.runtime.sessions.begin() as session:
        settings = await session.get(DeskSettings, 1)
        assert settings is not None
        settings.digest_day, settings.digest_time = WEEKDAYS[now.weekday()], "00:00"
    async with world.runtime.sessions.begin() as session:
        assert await queue_digests(session, now, "UTC") == 2  # IT and Finance
    # The first digest's chart is shared, the answer cut; the second's upload is
    # refused after its figures were posted.
    fake.fail_next("files.completeUploadExternal", lose_answer=True)
    fake.fail_next("files.getUploadURLExternal", status=503)
    await world.deliver()
    assert [n.maybe_sent for n in await _digests(world)] == [True, True]
    await retry_now(world)
    for channel in ("C0ITDESK", "C0FIN"):
        posted = [m for m in top_level(world, channel) if week in m.text]
        assert len(posted) == 1, (channel, [m.text for m in posted])
        charts = [
            f
            for f in fake.files.values()
            if f.completed and f.channel_id == channel and f.thread_ts == posted[0].ts
        ]
        assert len(charts) == 1 and charts[0].content and charts[0].content.startswith(PNG)
    assert all(n.delivered_at is not None for n in await _digests(world))


async def _digests(world: SlackWorld) -> list[OutboxMessage]:
    async with world.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "digest")
                .order_by(OutboxMessage.id)
            )
        )


async def test_a_lost_post_in_a_busy_channel_and_a_long_thread_is_found_pages_back(
    world: SlackWorld,
) -> None:
    # The lookup reads 50 messages a page: a card buried under 120 newer messages,
    # and a thread line after 120 replies, are each found on the third page.
    fake = world.fake
    fake.fail_next("chat.postMessage", lose_answer=True)
    assert "Filed IT-1" in await world.say("U0SAM", "it Printer on fire")
    [card] = top_level(world, "C0ITDESK")
    for n in range(120):
        fake.add_message("C0ITDESK", f"chatter {n}", user="U0BOB")
        fake.add_message("C0ITDESK", f"thread chatter {n}", user="U0BOB", thread_ts=card.ts)
    await retry_now(world)
    assert [m.ts for m in top_level(world, "C0ITDESK") if m.user != "U0BOB"] == [card.ts]
    assert len(lookups(world, "conversations.history")) == 3
    assert (await notice(world, "team_card")).message_ref == {
        "conversation": "C0ITDESK",
        "message": card.ts,
    }

    fake.fail_next("chat.postMessage", lose_answer=True)
    assert "IT-1" in await world.say("U0SAM", "reply IT-1 No light at all")
    await world.deliver()
    await retry_now(world)
    lines = [
        m for m in fake.messages["C0ITDESK"] if m.thread_ts == card.ts and "No light" in m.text
    ]
    assert len(lines) == 1, len(lines)
    assert len(lookups(world, "conversations.replies")) == 3
