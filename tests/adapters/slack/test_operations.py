"""Operating the desk: metrics, escalations in Slack, and platform faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from sqlalchemy import select, update

from handlers.delivery import dispatch_due
from handlers.sweep import sweep_due
from models.clock import ManualClock
from models.outbox import OutboxMessage
from models.requests import Request
from tests.adapters.slack.conftest import SlackWorld


async def metrics(slack: SlackWorld) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{slack.driver.base_url}/metrics") as response,
    ):
        assert response.status == 200
        return await response.text()


async def test_metrics_show_requests_outbox_and_deliveries(slack: SlackWorld) -> None:
    slack.fake.fail_next("chat.postMessage", status=503)  # the card waits for a retry
    await slack.say("U0SAM", "it Printer on fire")
    before = await metrics(slack)
    assert 'inhouse_requests{status="open",team="it"} 1.0' in before
    assert "inhouse_outbox_pending 1.0" in before
    assert "inhouse_commands_pending 0.0" in before  # the quick-file is filed already
    # Its answer is delivered already (the pump nudged the dispatch loop).
    assert 'inhouse_delivery_latency_seconds_count{channel="slack"} 1.0' in before
    await _due_now(slack)
    await slack.deliver()
    after = await metrics(slack)
    assert "inhouse_outbox_pending 0.0" in after
    assert 'inhouse_delivery_latency_seconds_count{channel="slack"} 2.0' in after


async def _due_now(slack: SlackWorld) -> None:
    """The backoff of what waits for a retry is over."""
    async with slack.runtime.sessions.begin() as session:
        await session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC)))


async def test_a_lapse_escalates_by_dm_with_buttons_and_shows_in_status(
    slack: SlackWorld,
) -> None:
    await slack.say("U0SAM", "it Laptop broken")  # respond within 4h, 24x7
    await slack.deliver()
    later = ManualClock(datetime.now(UTC) + timedelta(hours=4, minutes=1))
    report = await sweep_due(slack.runtime.sessions, later)
    assert report.escalations[1] == 1
    await dispatch_due(slack.runtime.sessions, later, slack.runtime.channels, owner="test")

    # Carol leads IT; the catalog knows her by email, Slack finds her.
    dm = slack.dms("U0CAROL")[-1]
    assert "has lapsed (escalation level 1)" in str(dm.blocks)
    assert "Sam Sales has waited" in str(dm.blocks) and "nobody holds it" in str(dm.blocks)
    buttons = [
        e["text"]["text"] for b in dm.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["Claim", "Open"]
    assert "Escalated to level 1" in str(slack.card().blocks)

    await slack.driver.press("U0CAROL", "status", "IT-1", channel="DU0CAROL")
    await slack.eventually(lambda: slack.fake.calls_to("chat.postEphemeral"))
    story = slack.fake.calls_to("chat.postEphemeral")[-1].args["text"]
    assert "escalated (first-response, level 1)" in story
    await slack.driver.press("U0CAROL", "claim", "IT-1", channel="DU0CAROL")
    await slack.eventually(lambda: _held(slack))


async def _held(slack: SlackWorld) -> bool:
    async with slack.runtime.sessions() as session:
        request = await session.scalar(select(Request).where(Request.key == "IT-1"))
        return request is not None and request.assignee_id is not None


async def test_server_errors_are_retried_and_a_dead_api_loses_nothing(
    slack: SlackWorld,
) -> None:
    # A 500 may come after Slack posted: the outbox (not slack_sdk) tries again,
    # and looks for the card on the channel first.
    slack.fake.fail_next("chat.postMessage", status=500, times=2)
    await slack.say("U0SAM", "it Printer on fire")
    for _ in range(2):
        await _due_now(slack)
        await slack.deliver()
    assert slack.card().text
    assert len(slack.fake.calls_to("chat.postMessage")) == 3
    assert len(slack.fake.calls_to("conversations.history")) == 2

    # Slack unreachable: the notice waits in the outbox with the reason.
    unreachable = await slack.runtime.slack_workspaces.client(None, delivering=True)
    real = unreachable.base_url
    unreachable.base_url = "http://127.0.0.1:9/api/"
    await slack.say("U0SAM", "it Second printer on fire")
    await slack.deliver()
    async with slack.runtime.sessions() as session:
        waiting = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None)))
        )
    assert len(waiting) == 1 and waiting[0].dead_at is None
    assert "unreachable" in (waiting[0].last_error or "")

    unreachable.base_url = real
    await _due_now(slack)
    await slack.deliver()
    cards = [m for m in slack.fake.messages["C0ITDESK"] if m.thread_ts in (None, m.ts)]
    assert len(cards) == 2
