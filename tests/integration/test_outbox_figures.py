"""What an operator sees of the outbox: /metrics (queue depth, oldest due notice,
in flight, dead letters by a bounded reason) and `inhouse outbox list / retry`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import DeskMetrics, mount
from handlers.delivery import DeliveryError, Leases, dispatch_due, failure_code
from handlers.filing import file_request
from handlers.outbox_admin import NoticeState, requeue, undelivered
from handlers.stats import MAX_REASONS, bounded_reasons
from models.outbox import OutboxMessage
from tests.integration.conftest import Desk
from tests.integration.fake_platform import FakePlatform
from tests.ports import free_port

FAST = Leases(duration=timedelta(seconds=10), renew_every=0.02)


async def troubled_outbox(desk: Desk) -> None:
    """#it refuses for good (IT-1's card: a dead letter), #finance is down (FIN-1's
    card: retried since T0, then in flight when its process dies at T0+60s),
    FIN-2's card waits, and a DM is held until tomorrow's working hours."""
    t0 = desk.clock.now()
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        await file_request(session, desk.clock, sam, team="it", title="Printer on fire")
        await file_request(session, desk.clock, sam, team="finance", title="Invoice missing")
    platform = FakePlatform(
        desk.clock,
        refusing={"team:1": "channel_not_found"},
        down_until=t0 + timedelta(days=1),
        down_only={"team:2"},
    )
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="A", leases=FAST)

    desk.clock.advance(timedelta(seconds=60))
    async with desk.sessions.begin() as session:
        await file_request(session, desk.clock, sam, team="finance", title="Second invoice")
        session.add(
            OutboxMessage(
                recipient_person_id=sam.id,
                kind="escalation",
                payload={},
                created_at=t0 - timedelta(hours=10),
                next_attempt_at=t0 + timedelta(days=1),
            )
        )
    slow = FakePlatform(desk.clock, hold=True)
    dying = asyncio.create_task(
        dispatch_due(desk.sessions, desk.clock, [slow], owner="B", leases=FAST)
    )
    await asyncio.wait_for(slow.entered.wait(), timeout=10)
    dying.cancel()  # the process dies with FIN-1's card in flight
    await asyncio.gather(dying, return_exceptions=True)


async def scrape(desk: Desk) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    metrics = DeskMetrics()
    app = web.Application()
    mount(app, metrics, desk.sessions, desk.clock.now)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            text = await response.text()
    finally:
        await runner.cleanup()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_metrics_show_depth_oldest_due_in_flight_and_dead_letters_by_reason(
    desk: Desk,
) -> None:
    await troubled_outbox(desk)
    desk.clock.advance(timedelta(seconds=60))  # T0 + 120 s
    seen = await scrape(desk)
    assert seen["inhouse_outbox_pending"] == {(): 3.0}  # FIN-1, FIN-2, the held DM
    assert seen["inhouse_outbox_dead"] == {(): 1.0}
    assert seen["inhouse_outbox_dead_letters"] == {(("reason", "channel_not_found"),): 1.0}
    assert seen["inhouse_outbox_in_flight"] == {(): 1.0}
    # FIN-1 has been failing since T0: 120 s. The DM held until tomorrow, though
    # queued 10 hours ago, is not overdue and does not count.
    assert seen["inhouse_outbox_oldest_pending_seconds"] == {(): 120.0}


async def test_outbox_list_shows_reasons_next_tries_and_in_flight_state(desk: Desk) -> None:
    await troubled_outbox(desk)
    async with desk.sessions() as session:
        listed = await undelivered(session, desk.clock.now())
    assert [(r.request_key, r.to, r.state, r.error_code, r.maybe_sent) for r in listed] == [
        ("IT-1", "#it", NoticeState.DEAD, "channel_not_found", False),
        ("FIN-1", "#finance", NoticeState.IN_FLIGHT, "http_5xx", True),
        ("FIN-2", "#finance", NoticeState.QUEUED, None, False),
        (None, "sam@example.com", NoticeState.QUEUED, None, False),
    ]
    assert listed[0].last_error == "fake: channel_not_found"
    # Once the dead process's lease is over, the attempt reads as interrupted.
    desk.clock.advance(timedelta(seconds=11))
    async with desk.sessions() as session:
        later = await undelivered(session, desk.clock.now())
        dead_only = await undelivered(session, desk.clock.now(), dead_only=True)
    assert later[1].state is NoticeState.INTERRUPTED
    assert [r.request_key for r in dead_only] == ["IT-1"]


async def test_outbox_retry_requeues_a_dead_letter_with_a_fresh_horizon(desk: Desk) -> None:
    await troubled_outbox(desk)
    now = desk.clock.now()
    async with desk.sessions.begin() as session:
        assert await requeue(session, 1, now)
        assert not await requeue(session, 999, now)
    async with desk.sessions() as session:
        row = await session.get(OutboxMessage, 1)
    assert row is not None
    assert (row.dead_at, row.attempts, row.failing_since, row.next_attempt_at) == (
        None,
        0,
        None,
        now,
    )
    # The channel is fixed: the requeued card goes out, once.
    platform = FakePlatform(desk.clock)
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="C", leases=FAST)
    assert platform.delivered(1) == 1
    async with desk.sessions.begin() as session:
        assert not await requeue(session, 1, now)  # delivered: nothing to requeue


def test_reason_labels_stay_few_and_never_carry_free_text() -> None:
    many = {f"code_{n:02d}": n + 1 for n in range(30)}
    kept = bounded_reasons(many)
    assert len(kept) == MAX_REASONS + 1 and sum(kept.values()) == sum(many.values())
    assert kept["other"] == sum(range(1, 11))  # the ten rarest, folded
    free_text = DeliveryError("x", transient=True, code="Slack: HTTP 503 for Dana <d@x>")
    assert failure_code(free_text) == "transient_error"
    assert failure_code(DeliveryError("x", transient=False)) == "permanent_error"
    assert failure_code(DeliveryError("x", transient=False, code="not_in_channel")) == (
        "not_in_channel"
    )
