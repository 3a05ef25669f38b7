"""The SLA sweep on a controlled clock: warnings, the ladder, pauses, auto-close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import build_engine, build_sessions
from handlers import survey, work
from handlers.catalog_apply import apply_catalog
from handlers.delivery import PendingNotice, Recipient, dispatch_due
from handlers.filing import file_request
from handlers.sweep import next_due, sweep_due
from models.catalog import Catalog, parse_catalog
from models.clock import ManualClock
from models.directory import Person
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


# --- a 24x7 team's ladder and the recipient's working hours -------------------------------------

NIGHT_CATALOG = """
calendars:
  office: {timezone: Europe/Berlin, hours: {mon-fri: "09:00-17:00"}}
  hq: {timezone: America/New_York, hours: {mon-fri: "08:00-16:00"}}
  always: 24x7
default_calendar: hq
people:
  - {email: sam@example.com, name: Sam Sales}
  - {email: olga@example.com, name: Olga Ops}
  - {email: lena@example.com, name: Lena Lead, calendar: office}
  - {email: nico@example.com, name: Nico Nobody}
  - {email: tomo@example.com, name: Tomo Tokyo, timezone: Asia/Tokyo}
teams:
  - key: ops
    name: Operations
    members: [olga@example.com]
    leads: [lena@example.com]
    calendar: always
    standards:
      normal: {first_response: 1h, resolution: 8h}
    escalation:
      - {after: 0m, notify: [leads, nico@example.com, tomo@example.com]}
      - {after: 1h, notify: [leads], urgent: true}
  - key: noc
    name: Network Operations
    members: [olga@example.com]
    leads: [lena@example.com]
    calendar: always
    standards:
      normal: {first_response: 1h, resolution: 8h}
    escalation:
      - {after: 0m, notify: [leads], urgent: true}
"""


@dataclass
class Recorder:
    """A platform that records each notice it is handed (kind, recipient, level)."""

    name: str = "recording"
    sent: list[tuple[str, str, int | None]] = field(default_factory=list)

    async def reaches(self, recipient: Recipient) -> bool:
        return True

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        person, team = notice.recipient.person, notice.recipient.team
        who = f"#{team.key}" if team else str(person.email if person else "?")
        self.sent.append((notice.kind, who, notice.payload.get("level")))
        return {"ts": f"m{len(self.sent)}"}

    def dms(self, kind: str = "escalation") -> list[tuple[str, int | None]]:
        return [(who, level) for sent, who, level in self.sent if sent == kind]


async def night_desk(sessions: async_sessionmaker[AsyncSession], text: str = NIGHT_CATALOG) -> Desk:
    catalog = parse_catalog(text, "night.yaml")
    async with sessions.begin() as session:
        await apply_catalog(session, catalog)
    return Desk(sessions, ManualClock(MONDAY_10), catalog)


async def file_in(desk: Desk, team: str, when: datetime) -> str:
    desk.clock.set(when)
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        return (await file_request(session, desk.clock, sam, team=team, title="VPN")).request.key


async def dispatch_at(desk: Desk, when: datetime, platform: Recorder) -> None:
    desk.clock.set(when)
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="test")


async def held_until(desk: Desk) -> dict[str, datetime]:
    """When each escalation DM becomes deliverable, by recipient."""
    async with desk.sessions() as session:
        rows = await session.execute(
            select(Person.email, OutboxMessage.next_attempt_at)
            .join(Person, Person.id == OutboxMessage.recipient_person_id)
            .where(OutboxMessage.kind == "escalation")
        )
        return {str(email): when for email, when in rows.all()}


async def test_a_24x7_lapse_at_night_is_recorded_at_once_and_dms_the_office_lead_on_monday(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk = await night_desk(sessions)
    await file_in(desk, "ops", berlin(28, 2))  # Saturday 02:00; first response due 03:00
    report = await sweep_at(desk, berlin(28, 3))
    assert report.escalations[1] == 1
    async with desk.sessions() as session:
        steps = (await session.execute(select(Escalation.level, Escalation.fired_at))).all()
        escalated = await session.scalar(
            select(RequestEvent.at).where(RequestEvent.kind == "escalated")
        )
    assert sorted(steps) == [(0, berlin(28, 3)), (1, berlin(28, 3))]  # the warning, silently
    assert escalated == berlin(28, 3)
    # Recorded once, however often the sweep runs before the next rung.
    await sweep_at(desk, berlin(28, 3, 30))
    assert await fired(desk) == [("first_response", 0), ("first_response", 1)]
    # Lena keeps office hours in Berlin: Monday 09:00 there.
    assert (await held_until(desk))["lena@example.com"] == berlin(30, 9)

    platform = Recorder()
    await dispatch_at(desk, berlin(28, 3), platform)
    assert platform.dms() == []
    assert ("team_card", "#ops", None) in platform.sent  # the channel sees it at once
    await dispatch_at(desk, berlin(30, 8, 59), platform)
    assert ("lena@example.com", 1) not in platform.dms()
    await dispatch_at(desk, berlin(30, 9), platform)
    await dispatch_at(desk, berlin(30, 9, 1), platform)
    assert platform.dms().count(("lena@example.com", 1)) == 1


async def test_an_urgent_rung_pages_at_once_even_behind_a_held_dm(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk = await night_desk(sessions)
    await file_in(desk, "noc", berlin(28, 2))  # its only rung is urgent
    await sweep_at(desk, berlin(28, 3))
    platform = Recorder()
    await dispatch_at(desk, berlin(28, 3), platform)
    assert platform.dms() == [("lena@example.com", 1)]

    await file_in(desk, "ops", berlin(28, 2))  # rung 1 held for Monday, rung 2 urgent
    await sweep_at(desk, berlin(28, 3))
    await sweep_at(desk, berlin(28, 4))
    await dispatch_at(desk, berlin(28, 4), platform)
    assert platform.dms() == [("lena@example.com", 1), ("lena@example.com", 2)]
    await dispatch_at(desk, berlin(30, 9), platform)
    lena = [dm for dm in platform.dms() if dm[0] == "lena@example.com"]
    assert lena[2:] == [("lena@example.com", 1)]  # the held one, on Monday


async def test_without_own_hours_the_organisations_default_holds_in_their_zone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk = await night_desk(sessions)
    await file_in(desk, "ops", berlin(28, 2))
    await sweep_at(desk, berlin(28, 3))
    held = await held_until(desk)
    # The default (hq) is 08:00-16:00 on weekdays: New York's for Nico, whose zone
    # nobody knows, and Tokyo's for Tomo, whose catalog entry gives one.
    assert held["nico@example.com"] == datetime(
        2026, 11, 30, 8, tzinfo=ZoneInfo("America/New_York")
    )
    assert held["tomo@example.com"] == datetime(2026, 11, 30, 8, tzinfo=ZoneInfo("Asia/Tokyo"))
    platform = Recorder()
    await dispatch_at(desk, held["tomo@example.com"] - timedelta(seconds=1), platform)
    assert platform.dms() == []
    await dispatch_at(desk, held["tomo@example.com"], platform)
    assert platform.dms() == [("tomo@example.com", 1)]


async def test_with_no_default_calendar_office_hours_in_the_organisations_zone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk = await night_desk(sessions, NIGHT_CATALOG.replace("default_calendar: hq\n", ""))
    await file_in(desk, "ops", berlin(28, 2))
    desk.clock.set(berlin(28, 3))
    await sweep_due(desk.sessions, desk.clock, organisation_zone="Europe/London")
    held = await held_until(desk)
    assert held["nico@example.com"] == datetime(2026, 11, 30, 9, tzinfo=ZoneInfo("Europe/London"))
    assert held["tomo@example.com"] == datetime(2026, 11, 30, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert held["lena@example.com"] == berlin(30, 9)  # her own hours, as before


async def test_hours_dropped_from_the_catalog_fall_back_to_the_default(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk = await night_desk(sessions)
    await night_desk(sessions, NIGHT_CATALOG.replace(", calendar: office}", "}"))
    await file_in(desk, "ops", berlin(28, 2))
    await sweep_at(desk, berlin(28, 3))
    held = await held_until(desk)
    assert held["lena@example.com"] == held["nico@example.com"]  # hq, in New York
