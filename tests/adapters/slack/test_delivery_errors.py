"""How Slack's answers steer the outbox: permanent errors are dead letters at once,
with Slack's code as the reason; outages (5xx, 429) are retried, never dropped."""

from __future__ import annotations

from sqlalchemy import select

from models.outbox import OutboxMessage
from tests.adapters.slack.conftest import SlackWorld

# Errors no retry will fix (bot/slack/channel.py, PERMANENT).
PERMANENT = [
    "channel_not_found",
    "not_in_channel",
    "account_inactive",
    "invalid_auth",
    "is_archived",
    "user_not_found",
    "missing_scope",
]


async def undelivered(slack: SlackWorld) -> list[OutboxMessage]:
    async with slack.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
                .order_by(OutboxMessage.id)
            )
        )


async def test_permanent_slack_errors_are_dead_letters_at_once_with_their_code(
    slack: SlackWorld,
) -> None:
    for n, code in enumerate(PERMANENT, start=1):
        slack.fake.fail_next("chat.postMessage", error=code)
        await slack.say("U0SAM", f"it Printer number {n}")
        await slack.deliver()
    dead = await undelivered(slack)
    assert [(d.kind, d.attempts, d.error_code, d.last_error) for d in dead] == [
        ("team_card", 1, code, f"Slack: {code}") for code in PERMANENT
    ]
    assert all(d.dead_at is not None for d in dead)


async def test_slack_outages_are_retried_with_their_code_and_delivered_after(
    slack: SlackWorld,
) -> None:
    # The outbox retries, not slack_sdk: one call per attempt, whatever Slack said.
    slack.fake.fail_next("chat.postMessage", status=503)  # the IT card
    await slack.say("U0SAM", "it Printer on fire")
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)  # FIN's
    await slack.say("U0SAM", "finance Invoice missing")
    await slack.deliver()
    waiting = await undelivered(slack)
    assert [(w.dead_at, w.error_code, w.attempts) for w in waiting] == [
        (None, "http_5xx", 1),
        (None, "ratelimited", 1),
    ]
    assert len(slack.fake.calls_to("chat.postMessage")) == 2
    assert all(w.failing_since is not None for w in waiting)

    async with slack.runtime.sessions.begin() as session:
        for row in await session.scalars(select(OutboxMessage)):
            row.next_attempt_at = row.created_at  # their backoff is over
    await slack.deliver()
    assert await undelivered(slack) == []
    # Each card is on its channel once.
    assert [len(slack.fake.messages[c]) for c in ("C0ITDESK", "C0FIN")] == [1, 1]
