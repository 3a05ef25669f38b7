"""The SLA sweep on a controlled clock: warnings, the ladder, pauses, auto-close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import build_engine, build_sessions
from handlers import survey, work
from handlers.catalog_apply import apply_catalog
from handlers.filing import file_request
from handlers.sweep import next_due, sweep_due
from models.catalog import Catalog
from models.clock import ManualClock
from models.outbox import OutboxMessage
from models.requests import Escalation, Request, RequestEvent
from tests.integration.conftest import MONDAY_10, Desk
from tests.integration.outbox_view import queued

BERLIN_OFFSET = timedelta(hours=1)  # CET in November and December


def berlin(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - BERLIN_OFFSET


async def file_at(desk: Desk, when: datetime, priority: str = "normal") -> str:
    desk.clock.set(when)
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        filed = await file_request(
            session, desk.clock, sam, team="it", title="Printer", priority=priority
        )
        return filed.request.key


async def sweep_at(desk: Desk, when: datetime):  # type: ignore[no-untyped-def]
    desk.clock.set(when)
    return await sweep_due(desk.sessions, desk.clock)


async def act(desk: Desk, email: str, action, *args):  # type: ignore[no-untyped-def]
    person = await desk.person(email)
    async with desk.sessions.begin() as session:
        return await action(session, desk.clock, person, *args)


async def fired(desk: Desk) -> list[tuple[str, int]]:
    async with desk.sessions() as session:
        rows = await session.execute(
            select(Escalation.clock, Escalation.level).order_by(Escalation.id)
        )
        return [(c.value, level) for c, level in rows.all()]


async def test_warning_at_75_percent_once_to_the_team_when_unassigned(desk: Desk) -> None:
    await file_at(desk, berlin(23, 10))  # first response due 14:00
    assert (await sweep_at(desk, berlin(23, 12, 59))).warnings == 0
    assert (await sweep_at(desk, berlin(23, 13, 0))).warnings == 1
    assert (await sweep_at(desk, berlin(23, 13, 30))).warnings == 0
    assert await fired(desk) == [("first_response", 0)]
    assert ("warning", "#it") in await queued(desk.sessions)


async def test_warning_goes_to_the_assignee_once_work_started(desk: Desk) -> None:
    key = await file_at(desk, berlin(23, 9), priority="urgent")  # resolution 4h
    await act(desk, "alice@example.com", work.claim, key)
    await sweep_at(desk, berlin(23, 11, 59))
    assert await fired(desk) == []
    await sweep_at(desk, berlin(23, 12))  # 3h of 4h consumed
    assert await fired(desk) == [("resolution", 0)]
    assert ("warning", "alice@example.com") in await queued(desk.sessions)


async def test_each_rung_fires_once_with_who_waited_and_who_holds_it(desk: Desk) -> None:
    await file_at(desk, berlin(23, 10))
    for minute in (0, 1, 2):
        await sweep_at(desk, berlin(23, 14, minute))
    # The warning came due with the lapse: marked done, but nobody is told twice.
    assert await fired(desk) == [("first_response", 0), ("first_response", 1)]
    assert "warning" not in [kind for kind, _ in await queued(desk.sessions)]
    await sweep_at(desk, berlin(23, 15, 59))
    assert len(await fired(desk)) == 2
    await sweep_at(desk, berlin(23, 16))
    await sweep_at(desk, berlin(23, 16, 30))
    assert await fired(desk) == [
        ("first_response", 0),
        ("first_response", 1),
        ("first_response", 2),
    ]
    escalations = [(k, who) for k, who in await queued(desk.sessions) if k == "escalation"]
    assert escalations == [
        ("escalation", "carol@example.com"),
        ("escalation", "fay@example.com"),
        ("escalation", "alice@example.com"),
        ("escalation", "bob@example.com"),
    ]
    async with desk.sessions() as session:
        request = await session.scalar(select(Request))
        events = list(
            await session.scalars(select(RequestEvent.kind).where(RequestEvent.kind == "escalated"))
        )
    assert request is not None and request.escalation_level == 2
    assert len(events) == 2


async def test_escalation_dm_waits_for_the_persons_working_hours(desk: Desk) -> None:
    await file_at(desk, berlin(23, 10))
    await sweep_at(desk, berlin(23, 14))  # 08:00 in New York
    async with desk.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.next_attempt_at, OutboxMessage.recipient_person_id).where(
                    OutboxMessage.kind == "escalation"
                )
            )
        ).all()
    times = sorted(when for when, _ in rows)
    assert times == [berlin(23, 14), berlin(23, 15)]  # Carol now; Fay at 09:00 her time
    await sweep_at(desk, berlin(23, 16))  # the urgent rung is never held
    async with desk.sessions() as session:
        urgent = list(
            await session.scalars(
                select(OutboxMessage.next_attempt_at)
                .where(OutboxMessage.kind == "escalation")
                .order_by(OutboxMessage.id.desc())
                .limit(2)
            )
        )
    assert urgent == [berlin(23, 16), berlin(23, 16)]


async def test_nights_weekends_and_holidays_do_not_count(desk: Desk) -> None:
    await file_at(desk, berlin(23, 16, month=12))  # Wed before the holidays
    # 1h on the 23rd; the 24th (catalog), 25th, 26th (DE) and the weekend are closed.
    await sweep_at(desk, berlin(27, 23, month=12))
    assert await fired(desk) == []
    await sweep_at(desk, berlin(28, 10, 59, month=12))
    assert await fired(desk) == []
    await sweep_at(desk, berlin(28, 11, month=12))  # 3h of 4h
    assert await fired(desk) == [("first_response", 0)]
    assert await next_due(desk.sessions) == berlin(28, 12, month=12)


async def test_waiting_on_the_requester_stops_the_ladder_and_resuming_goes_on(
    desk: Desk,
) -> None:
    key = await file_at(desk, berlin(23, 9), priority="urgent")
    await act(desk, "alice@example.com", work.claim, key)
    desk.clock.set(berlin(23, 10))
    await act(desk, "alice@example.com", work.wait_on_requester, key)
    await sweep_at(desk, berlin(25, 16))
    assert await fired(desk) == []
    desk.clock.set(berlin(26, 9))
    await act(desk, "sam@example.com", work.reply, key, "Here you go")
    await sweep_at(desk, berlin(26, 10, 59))
    assert await fired(desk) == []
    await sweep_at(desk, berlin(26, 11))  # 1h before the pause + 2h after = 3h of 4h
    assert await fired(desk) == [("resolution", 0)]
    await sweep_at(desk, berlin(26, 12))
    assert await fired(desk) == [("resolution", 0), ("resolution", 1)]


async def test_a_priority_change_keeps_what_the_clock_consumed(desk: Desk) -> None:
    key = await file_at(desk, berlin(23, 9))  # normal: 24h resolution
    await act(desk, "alice@example.com", work.claim, key)
    desk.clock.set(berlin(23, 12))
    await act(desk, "alice@example.com", work.set_priority, key, "urgent")  # 4h
    await sweep_at(desk, berlin(23, 12))
    assert await fired(desk) == [("resolution", 0)]  # 3h of 4h: warned at once
    await sweep_at(desk, berlin(23, 13))
    assert ("resolution", 1) in await fired(desk)


async def test_resolved_requests_are_reminded_then_closed(desk: Desk) -> None:
    key = await file_at(desk, berlin(23, 9))
    desk.clock.set(berlin(23, 10))
    await act(desk, "alice@example.com", work.resolve, key, "Fixed")
    # auto_close_after is 3d = 24 business hours: reminder after 12h, close after 24h.
    report = await sweep_at(desk, berlin(24, 13, 59))
    assert report.reminders == 0
    report = await sweep_at(desk, berlin(24, 14))
    assert report.reminders == 1
    assert ("survey_reminder", "sam@example.com") in await queued(desk.sessions)
    report = await sweep_at(desk, berlin(26, 10))
    assert report.auto_closed == 1
    async with desk.sessions() as session:
        request = await session.scalar(select(Request))
    assert request is not None and request.status == "closed"
    assert request.next_check_at is None


async def test_an_answered_survey_closes_and_is_never_reminded(desk: Desk) -> None:
    key = await file_at(desk, berlin(23, 9))
    await act(desk, "alice@example.com", work.resolve, key, "Fixed")
    await act(desk, "sam@example.com", survey.rate, key, 5)
    report = await sweep_at(desk, berlin(30, 12))
    assert (report.reminders, report.auto_closed) == (0, 0)


async def test_the_sweep_reads_only_due_requests(desk: Desk) -> None:
    for _ in range(3):
        await file_at(desk, berlin(23, 10))
    first = await sweep_at(desk, berlin(23, 10, 1))  # plans all three
    assert first.checked == 3
    again = await sweep_at(desk, berlin(23, 10, 2))
    assert again.checked == 0  # nothing is due before 13:00


@pytest.fixture
async def desk_pg(postgresql_url: str, catalog: Catalog) -> AsyncIterator[Desk]:
    engine = build_engine(postgresql_url)
    sessions = build_sessions(engine)
    async with sessions.begin() as session:
        await apply_catalog(session, catalog)
    try:
        yield Desk(sessions, ManualClock(MONDAY_10), catalog)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_three_sweepers_at_once_act_exactly_once(postgresql_url: str, desk_pg: Desk) -> None:
    desk = desk_pg
    keys = [await file_at(desk, berlin(23, 10)) for _ in range(30)]
    await sweep_at(desk, berlin(23, 10, 1))
    desk.clock.set(berlin(23, 16))  # every request past both rungs
    engines = [build_engine(postgresql_url) for _ in range(3)]
    try:
        reports = await asyncio.gather(
            *(sweep_due(build_sessions(engine), desk.clock, batch=7) for engine in engines)
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(r.escalations[1] for r in reports) == len(keys)
    assert sum(r.escalations[2] for r in reports) == len(keys)
    assert sum(r.checked for r in reports) == len(keys)
    async with desk.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(Escalation))
        dms = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "escalation")
        )
    assert rows == 3 * len(keys)  # the (silent) warning and both rungs
    assert dms == 4 * len(keys)  # rung 1: Carol and Fay; rung 2: Alice and Bob
