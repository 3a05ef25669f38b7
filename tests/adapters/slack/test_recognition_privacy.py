"""With `recognition: on`, figures that name a person reach only the leads of
that person's team and the person: not a requester asking `/request stats`, not
a teammate, not a channel digest (a channel has more readers than the leads)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.catalog_apply import apply_catalog
from handlers.digest import queue_digests
from models.catalog import parse_catalog
from models.digest_slot import WEEKDAYS
from models.directory import DeskSettings
from tests.adapters.slack.conftest import CATALOG, SlackWorld


@pytest.fixture
async def served(slack: SlackWorld) -> SlackWorld:
    """Recognition on; Alice resolved Sam's request and got five stars for it."""
    async with slack.runtime.sessions.begin() as session:
        await apply_catalog(session, parse_catalog(CATALOG + "recognition: on\n", "on.yaml"))
    await slack.say("U0SAM", "it Printer on fire")
    await slack.say("U0ALICE", "resolve IT-1 New fuser unit")
    await slack.say("U0SAM", "rate IT-1 5 Alice saved my deadline")
    return slack


async def _stats(slack: SlackWorld, user: str, text: str) -> str:
    answer = await slack.driver.command(user, text)
    assert answer.status == 200
    await slack.eventually(
        lambda: any(f.completed and f.channel_id == f"D{user}" for f in slack.fake.files.values())
    )
    upload = [f for f in slack.fake.files.values() if f.completed and f.channel_id == f"D{user}"]
    # The figures are the DM message the chart is shared under.
    [figures] = [m for m in slack.dms(user) if m.ts == upload[-1].thread_ts]
    return str(figures.text)


async def test_only_the_leads_and_the_person_read_her_figures(served: SlackWorld) -> None:
    lead = await _stats(served, "U0CAROL", "stats it")
    herself = await _stats(served, "U0ALICE", "stats it")
    teammate = await _stats(served, "U0BOB", "stats it")
    requester = await _stats(served, "U0SAM", "stats")  # on no team: every team
    assert "Alice IT (it): 1 resolved within standard" in lead
    assert "Alice saved my deadline" in lead
    assert "Alice IT (it): 1 resolved within standard" in herself
    for reader in (teammate, requester):
        assert "IT Service Desk" in reader  # the team's figures are for everyone
        assert "Alice IT" not in reader
        assert "Alice saved my deadline" not in reader
        assert "Thank you" not in reader


async def test_digests_in_channels_name_nobody(served: SlackWorld) -> None:
    now = datetime.now(UTC)
    async with served.runtime.sessions.begin() as session:
        settings = await session.get(DeskSettings, 1)
        assert settings is not None
        settings.digest_day, settings.digest_time = WEEKDAYS[now.weekday()], "00:00"
        settings.digest_slack_channel = "C0GENERAL"
    async with served.runtime.sessions.begin() as session:
        assert await queue_digests(session, now, "UTC") == 3  # IT, Finance, organisation
    await served.deliver()
    week = "{}-W{:02d}".format(*now.isocalendar()[:2])
    digests = [
        m.text
        for channel in ("C0ITDESK", "C0GENERAL")
        for m in served.fake.messages[channel]
        if week in m.text
    ]
    assert len(digests) == 2
    for text in digests:
        assert "IT Service Desk" in text
        assert "Alice" not in text
