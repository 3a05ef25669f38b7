"""Short, renewed, fenced leases: a live delivery keeps its notice, a dead process's
notices are taken over within one lease and handed on as `maybe_sent`, and a loop
that lost its lease records nothing over its successor's work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from handlers.delivery import DeliveryError, Leases, dispatch_due
from models.outbox import OutboxMessage
from tests.integration.conftest import Desk
from tests.integration.fake_platform import FakePlatform
from tests.integration.test_delivery import file_and_claim

# Renewals every 20 ms of real time; the lease's length is measured on the test clock.
FAST = Leases(duration=timedelta(seconds=10), renew_every=0.02)
# A loop that stalls: it never gets to renew.
STALLED = Leases(duration=timedelta(seconds=10), renew_every=3600)
# These tests hold one delivery on the platform and watch what happens to the rest
# of that loop's claims: its loop delivers one conversation at a time (side by
# side is tests/integration/test_delivery_concurrency.py).
ONE_AT_A_TIME = 1


async def row(desk: Desk, notice: int = 1) -> OutboxMessage:
    async with desk.sessions() as session:
        found = await session.get(OutboxMessage, notice)
        assert found is not None
        return found


async def until(check: Callable[[], Any]) -> None:
    deadline = asyncio.get_running_loop().time() + 10.0
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_delivery_in_flight_keeps_its_lease_across_renewals(desk: Desk) -> None:
    await file_and_claim(desk)
    slow = FakePlatform(desk.clock, hold=True)
    a = asyncio.create_task(
        dispatch_due(
            desk.sessions, desk.clock, [slow], owner="A", leases=FAST, concurrency=ONE_AT_A_TIME
        )
    )
    await asyncio.wait_for(slow.entered.wait(), timeout=10)
    started = desk.clock.now()
    first = await row(desk)
    assert (first.lease_owner, first.attempt_started_at) == ("A", started)

    other = FakePlatform(desk.clock)
    for _ in range(4):  # 32 s on the clock: three leases' worth
        desk.clock.advance(timedelta(seconds=8))

        async def renewed() -> bool:
            return (await row(desk)).lease_until == desk.clock.now() + timedelta(seconds=10)

        await until(renewed)
        await dispatch_due(desk.sessions, desk.clock, [other], owner="B")
        assert 1 not in {attempt.notice for attempt in other.attempts}

    slow.release.set()
    report = await a
    # The card in flight stayed A's; the DM A had claimed but not started was
    # free once its lease ran out, and B delivered it (work is shared, not hoarded).
    assert [(n, slow.delivered(n), other.delivered(n)) for n in (1, 2, 3)] == [
        (1, 1, 0),
        (2, 0, 1),
        (3, 1, 0),
    ]
    assert report.delivered == 2 and report.lost == 0
    done = await row(desk)
    assert done.delivered_at is not None and done.lease_owner is None
    assert done.attempt_started_at is None and done.maybe_sent is False


async def test_a_process_that_dies_mid_delivery_hands_over_with_maybe_sent(desk: Desk) -> None:
    await file_and_claim(desk)  # card (1), the requester's DM (2), card edit (3)
    platform = FakePlatform(desk.clock, hold=True)
    a = asyncio.create_task(
        dispatch_due(desk.sessions, desk.clock, [platform], owner="A", leases=FAST)
    )
    await asyncio.wait_for(platform.entered.wait(), timeout=10)
    # The card reached the platform; A dies before the answer gets back (nothing
    # more of A runs: no outcome, no renewal, no release).
    a.cancel()
    await asyncio.gather(a, return_exceptions=True)
    crashed = await row(desk)
    assert crashed.attempt_started_at is not None and crashed.delivered_at is None
    platform.hold = False

    async def b() -> int:
        report = await dispatch_due(desk.sessions, desk.clock, [platform], owner="B")
        return report.delivered

    assert await b() == 0  # still A's
    desk.clock.advance(timedelta(seconds=9))
    assert await b() == 0
    desk.clock.advance(timedelta(seconds=2))  # 11 s: A's short lease is over
    assert await b() == 3
    # B was told the card may already be there, looked, and found A's post; the DM
    # was claimed by A but never started, so it is no "maybe".
    told = {
        (a.notice, a.maybe_sent) for a in platform.attempts if a.at > crashed.attempt_started_at
    }
    assert told == {(1, True), (2, False), (3, False)}
    assert [platform.delivered(n) for n in (1, 2, 3)] == [1, 1, 1]
    recovered = await row(desk)
    assert recovered.delivered_at is not None and recovered.maybe_sent is True


async def test_a_stalled_loop_that_lost_its_lease_cannot_mark_delivered(desk: Desk) -> None:
    await file_and_claim(desk)
    slow = FakePlatform(desk.clock, hold=True, look_before_posting=False)
    a = asyncio.create_task(
        dispatch_due(
            desk.sessions, desk.clock, [slow], owner="A", leases=STALLED, concurrency=ONE_AT_A_TIME
        )
    )
    await asyncio.wait_for(slow.entered.wait(), timeout=10)
    desk.clock.advance(timedelta(seconds=11))  # A stalls past its lease
    # B takes the card over and is itself in the middle of delivering it...
    other = FakePlatform(desk.clock, hold=True)
    b = asyncio.create_task(
        dispatch_due(desk.sessions, desk.clock, [other], owner="B", leases=FAST)
    )

    # (B delivers conversations side by side: wait for the card itself, not the DM.)
    async def card_in_flight() -> bool:
        return any(attempt.notice == 1 for attempt in other.attempts)

    await until(card_in_flight)
    # ...when A's platform answers at last: A records nothing over B's claim.
    slow.release.set()
    late = await a
    assert late.delivered == 0 and late.lost == 1
    meanwhile = await row(desk)
    assert meanwhile.lease_owner == "B" and meanwhile.delivered_at is None
    assert meanwhile.attempt_started_at is not None and meanwhile.message_ref is None

    other.release.set()
    assert (await b).delivered == 3
    by_b = await row(desk)
    assert by_b.delivered_at is not None and by_b.channel == "fake"
    (card,) = [post for post in other.posts if post.notice == 1]
    assert by_b.message_ref == {"conversation": card.conversation, "message": card.message}
    assert by_b.attempts == 1  # only B's attempt has a recorded outcome
    # B was told A's post may be out there.
    assert [a.maybe_sent for a in other.attempts if a.notice == 1] == [True]


async def test_a_stalled_loop_that_lost_its_lease_cannot_dead_letter(desk: Desk) -> None:
    await file_and_claim(desk)
    slow = FakePlatform(desk.clock, hold=True)
    a = asyncio.create_task(
        dispatch_due(
            desk.sessions, desk.clock, [slow], owner="A", leases=STALLED, concurrency=ONE_AT_A_TIME
        )
    )
    await asyncio.wait_for(slow.entered.wait(), timeout=10)
    desk.clock.advance(timedelta(seconds=11))
    quick = FakePlatform(desk.clock)
    assert (await dispatch_due(desk.sessions, desk.clock, [quick], owner="B")).delivered == 3
    # A's answer is a refusal: it must not turn B's delivery into a dead letter.
    slow.then_fail = DeliveryError("fake: channel_not_found", transient=False)
    slow.release.set()
    late = await a
    assert (late.dead, late.lost) == (0, 1)
    after = await row(desk)
    assert after.delivered_at is not None and after.dead_at is None and after.last_error is None


async def test_renewal_notices_a_lost_lease_and_stops_the_delivery(desk: Desk) -> None:
    await file_and_claim(desk)
    slow = FakePlatform(desk.clock, hold=True)
    a = asyncio.create_task(dispatch_due(desk.sessions, desk.clock, [slow], owner="A", leases=FAST))
    await asyncio.wait_for(slow.entered.wait(), timeout=10)
    # Another loop took the notice over (what its claim leaves in the row), e.g.
    # after A's database connection hung for longer than a lease.
    async with desk.sessions.begin() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == 1)
            .values(lease_owner="B", lease_token=OutboxMessage.lease_token + 1)
        )

    async def cancelled() -> bool:
        return bool(slow.cancelled)

    # A's next renewal finds the lease gone and cancels its own delivery.
    await until(cancelled)
    assert slow.cancelled == [1]
    slow.release.set()  # the rest of A's work goes through
    report = await asyncio.wait_for(a, timeout=10)
    assert report.lost >= 1 and report.delivered == 1  # only the DM, its own lane
    taken_over = await row(desk)
    assert taken_over.lease_owner == "B" and taken_over.delivered_at is None


async def test_claims_are_fenced_by_a_token_that_every_claim_increments(desk: Desk) -> None:
    await file_and_claim(desk)
    platform = FakePlatform(desk.clock)
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="A")
    async with desk.sessions() as session:
        tokens = dict(
            (await session.execute(select(OutboxMessage.id, OutboxMessage.lease_token))).all()
        )
    # One claim each: the card and the DM in the first round, the edit in the second.
    assert tokens == {1: 1, 2: 1, 3: 1}
