"""The SLA sweep: act on every request whose next milestone has come.

It reads only requests with `next_check_at <= now` (an index), claims them with
FOR UPDATE SKIP LOCKED so replicas split the work, and records each warning and
ladder step as an `escalations` row unique on (request, clock, level), inserted
with ON CONFLICT DO NOTHING: whoever inserts it acts on it, exactly once.

A ladder step is recorded when it is due, day or night; only its DMs wait. An
urgent step's DMs go at once; the others are queued for the recipient's next
working moment (`recipient_hours`), so a 24x7 team's lapse at 03:00 on a Saturday
reaches an office lead on Monday morning, and pages nobody at night.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import insight_rollup, notices
from handlers.access import record, team_calendar
from handlers.notices import NoticeKind
from handlers.people import people_with_role
from handlers.sla import consumed_resolution_time
from handlers.survey import desk_settings
from models.calendar import BusinessCalendar
from models.catalog_fields import classify_person_ref
from models.clock import Clock
from models.directory import CalendarRow, DeskSettings, EscalationStep, Person, Team
from models.durations import parse_duration
from models.milestones import (
    AUTO_CLOSE_LEVEL,
    REMINDER_LEVEL,
    WARNING_LEVEL,
    ClockState,
    Milestone,
    Policy,
    plan,
    waited,
)
from models.requests import Escalation, Request
from models.stored_calendar import calendar_from_spec
from models.vocabulary import ClockKind, Role, Status

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    checked: int = 0
    warnings: int = 0
    escalations: Counter[int] = field(default_factory=Counter)
    reminders: int = 0
    auto_closed: int = 0


@dataclass(frozen=True)
class _Ladder:
    policy: Policy
    steps: dict[int, EscalationStep]
    calendar: BusinessCalendar
    # Working hours of the people on the ladder who name none of their own.
    default_hours: BusinessCalendar


async def sweep_due(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    batch: int = 200,
    max_batches: int = 50,
    organisation_zone: str = "UTC",
) -> SweepReport:
    """`organisation_zone` (INHOUSE_TIMEZONE) places the built-in office hours that
    a 24x7 team's ladder falls back on (see `recipient_hours`)."""
    report = SweepReport()
    for _batch in range(max_batches):
        async with sessions.begin() as session:
            handled = await _sweep_batch(session, clock.now(), batch, report, organisation_zone)
        if handled < batch:
            break
    return report


async def next_due(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    """The earliest milestone anyone is waiting for (for the one-shot wake-up)."""
    async with sessions() as session:
        return await session.scalar(select(func.min(Request.next_check_at)))


async def _sweep_batch(
    session: AsyncSession, now: datetime, batch: int, report: SweepReport, organisation_zone: str
) -> int:
    due = list(
        (
            await session.scalars(
                select(Request)
                .where(Request.next_check_at <= now)
                .order_by(Request.next_check_at)
                .limit(batch)
                .with_for_update(skip_locked=True, of=Request)
            )
        ).unique()
    )
    # Locked (above) for the escalations, closes and events below: their figures now.
    await insight_rollup.take(session, due)
    ladders: dict[int, _Ladder] = {}
    for request in due:
        if request.team_id not in ladders:
            ladders[request.team_id] = await _ladder(session, request.team, organisation_zone)
        await _check(session, request, ladders[request.team_id], now, report)
        report.checked += 1
    return len(due)


async def _ladder(session: AsyncSession, team: Team, organisation_zone: str) -> _Ladder:
    calendar = team_calendar(team)
    steps = {
        s.level: s
        for s in await session.scalars(
            select(EscalationStep).where(EscalationStep.team_id == team.id)
        )
    }
    settings = await desk_settings(session)
    policy = Policy(
        warn_at_percent=team.warn_at_percent,
        ladder=tuple(timedelta(seconds=steps[level].after_seconds) for level in sorted(steps)),
        auto_close_after=parse_duration(settings.auto_close_after).resolve(calendar),
    )
    return _Ladder(
        policy,
        steps,
        calendar,
        await _default_hours(session, settings, calendar, organisation_zone),
    )


async def _default_hours(
    session: AsyncSession, settings: DeskSettings, team: BusinessCalendar, organisation_zone: str
) -> BusinessCalendar:
    """The organisation's default working hours, as a team's ladder sees them: the
    catalog's `default_calendar`; else the team's own hours, unless the team never
    closes, and then Monday to Friday 09:00-17:00 in the organisation's zone."""
    if settings.default_calendar_id is not None:
        row = await session.get(CalendarRow, settings.default_calendar_id)
        if row is not None:
            return calendar_from_spec(row.spec)
    if not team.always_open:
        return team
    return BusinessCalendar.office_hours(_zone_name(organisation_zone) or "UTC")


def clock_state(request: Request) -> ClockState:
    return ClockState(
        created_at=request.created_at,
        first_response_at=request.first_response_at,
        first_response_target=timedelta(seconds=request.first_response_target_seconds),
        resolution_target=timedelta(seconds=request.resolution_target_seconds),
        resolution_consumed=consumed_resolution_time(request),
        resolution_running_since=request.resolution_running_since,
        resolved_at=request.resolved_at if request.status is Status.RESOLVED else None,
        closed=request.status is Status.CLOSED,
    )


async def _check(
    session: AsyncSession,
    request: Request,
    ladder: _Ladder,
    now: datetime,
    report: SweepReport,
) -> None:
    done = {
        (row.clock, row.level)
        for row in await session.scalars(
            select(Escalation).where(Escalation.request_id == request.id)
        )
    }
    state = clock_state(request)
    outcome = plan(state, ladder.policy, ladder.calendar, done, now)
    for milestone in outcome.silent:
        await _claim(session, request, milestone, now)
    for milestone in outcome.due:
        if not await _claim(session, request, milestone, now):
            continue  # another sweeper got there first: it acts, we don't
        await _act(session, request, milestone, ladder, state, now, report)
        if request.status is Status.CLOSED:
            break
    request.next_check_at = None if request.status is Status.CLOSED else outcome.next_check_at


async def _claim(
    session: AsyncSession, request: Request, milestone: Milestone, now: datetime
) -> bool:
    values = {
        "request_id": request.id,
        "clock": milestone.clock.value,
        "level": milestone.level,
        "fired_at": now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(Escalation)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["request_id", "clock", "level"])
        .returning(Escalation.id)
    )
    return (await session.scalar(statement)) is not None


async def _act(
    session: AsyncSession,
    request: Request,
    milestone: Milestone,
    ladder: _Ladder,
    state: ClockState,
    now: datetime,
    report: SweepReport,
) -> None:
    if milestone.clock is ClockKind.SURVEY:
        if milestone.level == REMINDER_LEVEL:
            record(session, request, None, "survey_reminded", now)
            notices.to_person(
                session, request, request.requester_id, NoticeKind.SURVEY_REMINDER, now
            )
            report.reminders += 1
        elif milestone.level == AUTO_CLOSE_LEVEL:
            request.status = Status.CLOSED
            request.closed_at = now
            record(session, request, None, "closed", now, reason="auto_closed")
            notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
            report.auto_closed += 1
        return
    if milestone.level == WARNING_LEVEL:
        record(session, request, None, "warned", now, clock=milestone.clock.value)
        clock, lapses = milestone.clock.value, _due(request, milestone).isoformat()
        if request.assignee_id is not None:
            notices.to_person(
                session,
                request,
                request.assignee_id,
                NoticeKind.WARNING,
                now,
                clock=clock,
                due_at=lapses,
            )
        else:
            notices.to_team(session, request, NoticeKind.WARNING, now, clock=clock, due_at=lapses)
        report.warnings += 1
        log.info("warned", extra={"request": request.key, "clock": milestone.clock.value})
        return
    step = ladder.steps[milestone.level]
    people = await _notify(session, request.team_id, step.notify)
    request.escalation_level = max(request.escalation_level, milestone.level)
    record(
        session,
        request,
        None,
        "escalated",
        now,
        clock=milestone.clock.value,
        level=milestone.level,
        notified=[p.display_name for p in people],
    )
    for person in people:
        notices.to_person(
            session,
            request,
            person.id,
            NoticeKind.ESCALATION,
            now,
            deliver_at=now if step.urgent else await recipient_hours(session, person, ladder, now),
            clock=milestone.clock.value,
            level=milestone.level,
            waited_seconds=int(waited(state, ladder.calendar, now).total_seconds()),
        )
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    report.escalations[milestone.level] += 1
    log.info(
        "escalated",
        extra={"request": request.key, "clock": milestone.clock.value, "level": milestone.level},
    )


def _due(request: Request, milestone: Milestone) -> datetime:
    if milestone.clock is ClockKind.FIRST_RESPONSE:
        return request.first_response_due_at
    return request.resolution_due_at or milestone.at


async def _notify(session: AsyncSession, team_id: int, refs: list[str]) -> list[Person]:
    """`leads`, `members`, or people named by email / Slack id / Teams id."""
    found: dict[int, Person] = {}
    for ref in refs:
        if ref in ("leads", "members"):
            role = Role.LEAD if ref == "leads" else Role.MEMBER
            for person in await people_with_role(session, team_id, role):
                found[person.id] = person
            continue
        kind, value = classify_person_ref(ref)
        column = {
            "email": Person.email,
            "slack": Person.slack_user_id,
            "teams": Person.teams_user_id,
        }[kind]
        named = await session.scalar(select(Person).where(column == value))
        if named is not None:
            found[named.id] = named
    return list(found.values())


async def recipient_hours(
    session: AsyncSession, person: Person, ladder: _Ladder, now: datetime
) -> datetime:
    """The recipient's next working moment (`now` while they work): their own
    calendar from the catalog if they have one, else the default hours read on the
    wall clock of their own time zone (catalog or chat profile) when it is known."""
    if person.calendar_id is not None:
        row = await session.get(CalendarRow, person.calendar_id)
        if row is not None:
            return calendar_from_spec(row.spec).next_working_instant(now)
    hours = ladder.default_hours
    zone = _zone_name(person.timezone)
    if zone is not None:
        hours = hours.in_timezone(ZoneInfo(zone))
    return hours.next_working_instant(now)


def _zone_name(name: str | None) -> str | None:
    """`name` if it is a time zone this machine knows (a profile may say anything)."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
