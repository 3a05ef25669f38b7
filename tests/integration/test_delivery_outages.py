"""Outages delay, never drop; permanent refusals are dead letters at once; each
lane (a request's notices to one recipient) keeps its order through retries,
ambiguous failures and two dispatchers at once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from handlers import survey, work
from handlers.delivery import Leases, RetryPolicy, dispatch_due
from handlers.filing import file_request
from handlers.outbox_admin import requeue
from models.outbox import OutboxMessage
from tests.integration.conftest import Desk
from tests.integration.fake_platform import FakePlatform

FAST = Leases(duration=timedelta(seconds=10), renew_every=0.02)
STEP = timedelta(seconds=10)  # the scheduler's pace, on the test clock
OUTAGE_CODES = {"http_5xx", "ratelimited", "unreachable"}


async def story(desk: Desk) -> None:
    """IT-1 is filed, claimed, answered, resolved and rated; FIN-1 is filed."""
    sam = await desk.person("sam@example.com")
    alice = await desk.person("alice@example.com")
    async with desk.sessions.begin() as session:
        await file_request(session, desk.clock, sam, team="it", title="Printer on fire")
    async with desk.sessions.begin() as session:
        await work.claim(session, desk.clock, alice, "IT-1")
    async with desk.sessions.begin() as session:
        await work.reply(session, desk.clock, alice, "IT-1", "Is it still burning?")
    async with desk.sessions.begin() as session:
        await work.resolve(session, desk.clock, alice, "IT-1", "Put it out, new toner")
    async with desk.sessions.begin() as session:
        await survey.rate(session, desk.clock, sam, "IT-1", 5)
    async with desk.sessions.begin() as session:
        await file_request(session, desk.clock, sam, team="finance", title="Invoice missing")


async def notices(desk: Desk) -> list[OutboxMessage]:
    async with desk.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def drive(
    desk: Desk,
    platform: FakePlatform,
    until: datetime,
    *,
    owners: Sequence[str] = ("A",),
    policy: RetryPolicy | None = None,
) -> None:
    """Dispatch every STEP of clock time until `until`, one loop per owner, at once."""
    while desk.clock.now() < until:
        await asyncio.gather(
            *(
                dispatch_due(
                    desk.sessions, desk.clock, [platform], owner=owner, policy=policy, leases=FAST
                )
                for owner in owners
            )
        )
        desk.clock.advance(STEP)


def assert_each_once_and_in_lane_order(platform: FakePlatform, rows: list[OutboxMessage]) -> None:
    assert [(row.id, platform.delivered(row.id)) for row in rows] == [(row.id, 1) for row in rows]
    lanes: dict[tuple[int | None, int | None, int | None], list[int]] = {}
    lane_of = {
        row.id: (row.request_id, row.recipient_team_id, row.recipient_person_id) for row in rows
    }
    for post in platform.posts:
        lanes.setdefault(lane_of[post.notice], []).append(post.notice)
    for lane, posted in lanes.items():
        assert posted == sorted(posted), f"lane {lane} out of order: {posted}"
    # A card's edits edit the card: never a second card, never an edit before it.
    cards = [p for p in platform.posts if p.kind == "team_card"]
    by_conversation: dict[str, list[bool]] = {}
    for card in cards:
        by_conversation.setdefault(card.conversation + card.message, []).append(card.edit)
    assert all(edits[0] is False and all(edits[1:]) for edits in by_conversation.values())


async def test_a_20_minute_outage_drops_nothing_and_delivers_once_after(desk: Desk) -> None:
    start = desk.clock.now()
    recovery = start + timedelta(minutes=20)
    platform = FakePlatform(desk.clock, down_until=recovery)  # 503, 429, cut, in turn
    await story(desk)

    await drive(desk, platform, recovery)
    during = await notices(desk)
    assert platform.posts == []
    assert [row.dead_at for row in during] == [None] * len(during)
    assert {row.error_code for row in during if row.attempts} <= OUTAGE_CODES
    # Backoff is capped: nobody waited more than 5 minutes between two tries.
    tries: dict[int, list[datetime]] = {}
    for attempt in platform.attempts:
        tries.setdefault(attempt.notice, []).append(attempt.at)
    for at in tries.values():
        gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
        assert max(gaps, default=timedelta(0)) <= timedelta(minutes=5) + STEP

    await drive(desk, platform, recovery + timedelta(minutes=12))
    after = await notices(desk)
    assert [row.delivered_at is not None for row in after] == [True] * len(after)
    assert_each_once_and_in_lane_order(platform, after)
    # Each lane's first notice went out within one capped backoff of the recovery.
    first_posts = min(post.at for post in platform.posts)
    assert first_posts - recovery <= timedelta(minutes=5) + STEP


async def test_once_one_notice_goes_through_the_others_follow_without_their_backoff(
    desk: Desk,
) -> None:
    # After a long outage every notice waits out a backoff of up to 5 minutes. The
    # first that goes through shows the platform is back: the rest follow at once,
    # except those a 429 told to wait (Retry-After 20 s here), which keep waiting.
    start = desk.clock.now()
    recovery = start + timedelta(minutes=20)
    platform = FakePlatform(desk.clock, down_until=recovery)
    await story(desk)
    await drive(desk, platform, recovery + timedelta(minutes=6))

    rows = await notices(desk)
    assert [row.delivered_at is not None for row in rows] == [True] * len(rows)
    first = min(post.at for post in platform.posts)
    last = max(post.at for post in platform.posts)
    assert last - first <= timedelta(seconds=20) + 2 * STEP, (first - recovery, last - recovery)
    assert_each_once_and_in_lane_order(platform, rows)


async def test_an_outage_longer_than_the_horizon_dead_letters_then_retry_delivers(
    desk: Desk,
) -> None:
    start = desk.clock.now()
    platform = FakePlatform(desk.clock, down_until=start + timedelta(hours=3))
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        await file_request(session, desk.clock, sam, team="finance", title="Invoice missing")
    policy = RetryPolicy(horizon=timedelta(hours=1))

    await drive(desk, platform, start + timedelta(minutes=55), policy=policy)
    assert [row.dead_at for row in await notices(desk)] == [None]
    await drive(desk, platform, start + timedelta(minutes=70), policy=policy)
    [dead] = await notices(desk)
    assert dead.dead_at is not None and dead.failing_since == start
    assert timedelta(hours=1) <= dead.dead_at - start <= timedelta(hours=1, minutes=5) + STEP
    assert dead.error_code in OUTAGE_CODES
    assert dead.last_error is not None and dead.last_error.startswith("gave up after 1h")

    desk.clock.set(start + timedelta(hours=3))  # the platform is back
    async with desk.sessions.begin() as session:
        assert await requeue(session, dead.id, desk.clock.now())  # `inhouse outbox retry`
    await drive(desk, platform, desk.clock.now() + STEP, policy=policy)
    [again] = await notices(desk)
    assert again.delivered_at is not None and platform.delivered(again.id) == 1


async def test_a_permanent_refusal_is_a_dead_letter_at_once_and_other_lanes_go_on(
    desk: Desk,
) -> None:
    platform = FakePlatform(desk.clock, refusing={"team:1": "channel_not_found"})
    await story(desk)
    await drive(desk, platform, desk.clock.now() + STEP)
    rows = await notices(desk)
    to_it = [row for row in rows if row.recipient_team_id == 1]
    assert to_it and all(row.dead_at is not None for row in to_it)
    # Each was refused once and given up at that very attempt, with the reason.
    assert {(row.attempts, row.error_code, row.last_error) for row in to_it} == {
        (1, "channel_not_found", "fake: channel_not_found")
    }
    others = [row for row in rows if row.recipient_team_id != 1]
    assert others and all(row.delivered_at is not None for row in others)


async def test_lanes_keep_their_order_through_flaky_retries_and_two_dispatchers(
    desk: Desk,
) -> None:
    # A third of the attempts fail; half of those after the post went through (the
    # answer is lost), which the next attempt is told, looks up, and records.
    platform = FakePlatform(desk.clock, fail_rate=0.35)
    await story(desk)
    await drive(desk, platform, desk.clock.now() + timedelta(minutes=30), owners=("A", "B"))
    rows = await notices(desk)
    assert [row.delivered_at is not None for row in rows] == [True] * len(rows)
    assert_each_once_and_in_lane_order(platform, rows)
    assert any(a.maybe_sent for a in platform.attempts), "no ambiguous failure was exercised"
    assert len(platform.attempts) > len(rows), "no failure was exercised"
