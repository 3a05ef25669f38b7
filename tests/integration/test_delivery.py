"""The outbox dispatcher: in order, edits in place, retries, dead letters, no loss."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from handlers import work
from handlers.delivery import DeliveryError, PendingNotice, Recipient, RetryPolicy, dispatch_due
from handlers.filing import file_request
from models.outbox import MessageRef, OutboxMessage
from tests.integration.conftest import Desk


@dataclass
class RecordingChannel:
    """A channel that records what it was asked to send and can be told to fail."""

    name: str = "recording"
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    failures: list[DeliveryError | BaseException] = field(default_factory=list)
    fail_kind: str | None = None
    only: set[str] | None = None
    # What each delivery was told, by (kind, recipient): conversations go out side by side,
    # so only the order within one conversation is fixed.
    maybe_sent: list[tuple[str, str, bool]] = field(default_factory=list)

    def conversation(self, who: str) -> list[tuple[str, dict[str, Any]]]:
        """What went to one recipient, in the order it went."""
        return [(kind, refs) for kind, to, refs in self.sent if to == who]

    async def reaches(self, recipient: Recipient) -> bool:
        return self.only is None or recipient.target in self.only

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        who = (
            f"#{notice.recipient.team.key}"
            if notice.recipient.team
            else str(notice.recipient.person.email if notice.recipient.person else "?")
        )
        if self.failures and (self.fail_kind in (None, notice.kind)):
            failure = self.failures.pop(0)
            if isinstance(failure, asyncio.CancelledError):
                self.sent.append((notice.kind, who, dict(notice.refs)))
            raise failure
        self.sent.append((notice.kind, who, dict(notice.refs)))
        self.maybe_sent.append((notice.kind, who, notice.maybe_sent))
        return {"ts": f"{who}/{len(self.conversation(who))}"}


async def file_and_claim(desk: Desk, title: str = "Laptop") -> str:
    sam = await desk.person("sam@example.com")
    alice = await desk.person("alice@example.com")
    async with desk.sessions.begin() as session:
        key = (await file_request(session, desk.clock, sam, team="it", title=title)).request.key
    async with desk.sessions.begin() as session:
        await work.claim(session, desk.clock, alice, key)
    return key


async def pending(desk: Desk) -> list[OutboxMessage]:
    async with desk.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
        )
        return list(rows)


async def test_delivers_in_order_and_edits_the_card_in_place(desk: Desk) -> None:
    await file_and_claim(desk)
    channel = RecordingChannel()
    report = await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    assert report.delivered == 3
    assert [k for k, _ in channel.conversation("sam@example.com")] == ["first_response"]
    # The second card delivery knows where the first one is, so it edits it.
    assert channel.conversation("#it") == [
        ("team_card", {}),
        ("team_card", {"team_card": {"ts": "#it/1"}}),
    ]
    async with desk.sessions() as session:
        refs = list(await session.scalars(select(MessageRef)))
    assert [(r.purpose, r.ref) for r in refs] == [("team_card", {"ts": "#it/2"})]
    assert await pending(desk) == []
    again = await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    assert again.delivered == 0 and len(channel.sent) == 3


async def test_transient_failure_retries_later_and_holds_back_its_lane(desk: Desk) -> None:
    first = await file_and_claim(desk, "One")
    channel = RecordingChannel(failures=[DeliveryError("HTTP 503", transient=True)])
    report = await dispatch_due(
        desk.sessions,
        desk.clock,
        [channel],
        owner="t",
        policy=RetryPolicy(base=timedelta(seconds=10)),
    )
    # The requester's DM is another lane: it goes out; the team's cards keep their order.
    assert report.retried == 1 and report.delivered == 1
    assert [(k, w) for k, w, _ in channel.sent] == [("first_response", "sam@example.com")]
    rows = await pending(desk)
    assert [r.kind for r in rows] == ["team_card", "team_card"]
    failed = min(rows, key=lambda r: r.id)
    assert failed.attempts == 1 and failed.last_error == "HTTP 503"
    # Full jitter: somewhere up to the first backoff step, never at once.
    assert desk.clock.now() < failed.next_attempt_at
    assert failed.next_attempt_at <= desk.clock.now() + timedelta(seconds=10)

    # Another request's notices are not held up by the first one's trouble.
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        await file_request(session, desk.clock, sam, team="finance", title="Invoice")
    await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    assert [(k, w) for k, w, _ in channel.sent][1:] == [("team_card", "#finance")]

    desk.clock.advance(timedelta(seconds=11))
    await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    assert [(k, w) for k, w, _ in channel.sent][2:] == [("team_card", "#it")] * 2
    assert first == "IT-1"


async def test_retry_after_from_the_platform_is_honoured(desk: Desk) -> None:
    await file_and_claim(desk)
    channel = RecordingChannel(
        failures=[DeliveryError("rate limited", transient=True, retry_after=30)]
    )
    await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    failed = min(await pending(desk), key=lambda r: r.id)
    assert failed.next_attempt_at == desk.clock.now() + timedelta(seconds=30)


async def test_permanent_failure_is_a_dead_letter_and_the_rest_goes_on(desk: Desk) -> None:
    await file_and_claim(desk)
    channel = RecordingChannel(
        failures=[DeliveryError("channel_not_found", transient=False)], fail_kind="team_card"
    )
    report = await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    assert report.dead == 1
    await dispatch_due(desk.sessions, desk.clock, [channel], owner="t")
    async with desk.sessions() as session:
        dead = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.dead_at.is_not(None)))
        )
    # At once, on the first attempt, with the reason and its code.
    assert [(d.kind, d.attempts, d.last_error, d.error_code) for d in dead] == [
        ("team_card", 1, "channel_not_found", "permanent_error")
    ]
    assert [k for k, _ in channel.conversation("sam@example.com")] == ["first_response"]
    assert [k for k, _ in channel.conversation("#it")] == ["team_card"]


async def test_the_deprecated_attempt_limit_still_gives_up(desk: Desk) -> None:
    await file_and_claim(desk)
    channel = RecordingChannel(
        failures=[DeliveryError("HTTP 500", transient=True) for _ in range(3)],
        fail_kind="team_card",
    )
    policy = RetryPolicy(max_attempts=3, base=timedelta(seconds=1))
    for _ in range(3):
        await dispatch_due(desk.sessions, desk.clock, [channel], owner="t", policy=policy)
        desk.clock.advance(timedelta(minutes=1))
    async with desk.sessions() as session:
        first = await session.get(OutboxMessage, 1)
    assert first is not None and first.dead_at is not None and first.attempts == 3


async def test_a_crash_mid_delivery_resends_after_the_lease_expires(desk: Desk) -> None:
    await file_and_claim(desk)
    crashing = RecordingChannel(failures=[asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        # One conversation at a time: the crash stops the loop before the others.
        await dispatch_due(
            desk.sessions, desk.clock, [crashing], owner="dead-replica", concurrency=1
        )
    assert len(crashing.sent) == 1  # it went out, but was never marked delivered

    other = RecordingChannel()
    await dispatch_due(desk.sessions, desk.clock, [other], owner="live-replica")
    assert other.sent == []  # still leased by the crashed replica
    desk.clock.advance(timedelta(seconds=11))  # one short lease later
    await dispatch_due(desk.sessions, desk.clock, [other], owner="live-replica")
    # The card that went out is posted again (no platform here to look it up), then the
    # rest, each conversation in its order; only the card that went out is told it may
    # already be on the platform.
    assert [k for k, _ in other.conversation("#it")] == ["team_card", "team_card"]
    assert [k for k, _ in other.conversation("sam@example.com")] == ["first_response"]
    assert [m for _, w, m in other.maybe_sent if w == "#it"] == [True, False]
    assert [m for _, w, m in other.maybe_sent if w == "sam@example.com"] == [False]
    assert await pending(desk) == []


async def test_notices_nobody_here_can_reach_stay_queued(desk: Desk) -> None:
    await file_and_claim(desk)
    only_sam = RecordingChannel(only=set())
    report = await dispatch_due(desk.sessions, desk.clock, [only_sam], owner="t")
    assert report.delivered == 0 and report.waiting >= 1
    assert len(await pending(desk)) == 3


async def test_a_notice_claimed_by_another_replica_while_we_paced_is_left_to_it(
    desk: Desk,
) -> None:
    await file_and_claim(desk)
    channel = RecordingChannel()

    async def slow_pace() -> None:
        # Our lease ran out while we waited for a lull, and another replica claimed
        # the notices (this is the state its claim leaves in the outbox).
        desk.clock.advance(timedelta(seconds=11))
        async with desk.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
                .values(lease_owner="live-replica", lease_until=desk.clock.now())
            )

    report = await dispatch_due(
        desk.sessions, desk.clock, [channel], owner="slow-replica", pace=slow_pace
    )
    assert channel.sent == [] and report.delivered == 0
    assert {m.lease_owner for m in await pending(desk)} == {"live-replica"}
