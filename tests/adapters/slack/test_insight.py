"""Insight in Slack: `/request stats` with its chart, and the weekly digest."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from handlers.digest import queue_digests
from models.digest_slot import WEEKDAYS
from models.directory import DeskSettings
from models.outbox import OutboxMessage
from tests.adapters.slack.conftest import SlackWorld

PNG = b"\x89PNG\r\n\x1a\n"


async def test_stats_answers_with_figures_and_a_chart_in_the_dm(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.say("U0SAM", "it Mouse broken")
    answer = await slack.driver.command("U0ALICE", "stats it 30d")
    assert answer.status == 200
    await slack.eventually(lambda: any(f.completed for f in slack.fake.files.values()))
    # The figures in Alice's DM with the bot, the chart in their thread.
    [figures] = [m for m in slack.dms("U0ALICE") if "The last 30 days:" in m.text]
    assert "IT Service Desk: 2 filed, 0 resolved, 2 open" in figures.text
    upload = next(f for f in slack.fake.files.values() if f.completed)
    assert upload.content is not None and upload.content.startswith(PNG)
    assert upload.channel_id == "DU0ALICE" and upload.thread_ts == figures.ts


async def test_the_weekly_digest_posts_the_week_with_its_chart(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    now = datetime.now(UTC)
    week = "{}-W{:02d}".format(*now.isocalendar()[:2])
    async with slack.runtime.sessions.begin() as session:
        # Today at midnight is the slot: due now, and for the rest of the week.
        settings = await session.get(DeskSettings, 1)
        assert settings is not None
        settings.digest_day, settings.digest_time = WEEKDAYS[now.weekday()], "00:00"
    async with slack.runtime.sessions.begin() as session:
        assert await queue_digests(session, now, "UTC") == 2  # IT and Finance
    async with slack.runtime.sessions.begin() as session:
        assert await queue_digests(session, now, "UTC") == 0  # once a week
    await slack.deliver()
    digest = [m for m in slack.fake.messages["C0ITDESK"] if week in m.text]
    async with slack.runtime.sessions() as session:
        errors = [
            r.last_error for r in await session.scalars(select(OutboxMessage)) if r.last_error
        ]
    assert digest, errors
    uploads = [f for f in slack.fake.files.values() if f.completed]
    assert any(
        f.thread_ts == digest[0].ts and f.content and f.content.startswith(PNG) for f in uploads
    )
