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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import insight_rollup, notices
from handlers.access import noted, team_calendar
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
    Plan,
    Policy,
    plan,
    waited,
)
from models.outbox import OutboxMessage
from models.requests import Escalation, Request, RequestEvent
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
    # Who each step notifies, looked up once per batch (the ladder lives one batch).
    recipients: dict[int, list[Person]] = field(default_factory=dict)


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
    """One batch, set-based: a statement per kind of work, not per due request.

    The due rows are locked (SKIP LOCKED); their escalation rows are read in one
    query; every milestone reached is claimed in one INSERT ... ON CONFLICT DO
    NOTHING RETURNING, and only what that returned is acted on (the unique row is
    still the fence: a milestone another sweeper inserted is not returned here).
    The events, notices and request updates are written by the one flush at the
    commit, as multi-row statements."""
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
    if not due:
        return 0
    # Locked (above) for the escalations, closes and events below: their figures now.
    await insight_rollup.take(session, due)
    done = await _done(session, [request.id for request in due])
    ladders: dict[int, _Ladder] = {}
    planned: list[tuple[Request, _Ladder, Plan]] = []
    for request in due:
        if request.team_id not in ladders:
            ladders[request.team_id] = await _ladder(session, request.team, organisation_zone)
        ladder = ladders[request.team_id]
        outcome = plan(clock_state(request), ladder.policy, ladder.calendar, done[request.id], now)
        planned.append((request, ladder, outcome))
    claimed = await _claim(
        session,
        [
            (request.id, milestone)
            for request, _, outcome in planned
            for milestone in (*outcome.silent, *_until_closed(outcome.due))
        ],
        now,
    )
    # Nothing below needs to see what was changed so far: no flush per query (a
    # flush per request was most of the time a batch took); the requests' updates
    # go out in the flush at the commit.
    writes = _Writes()
    with session.no_autoflush:
        for request, ladder, outcome in planned:
            await _check(session, request, ladder, outcome, claimed, now, report, writes)
            report.checked += 1
    await writes.insert(session)
    return len(due)


@dataclass
class _Writes:
    """A batch's events and notices, in the order they happened, as row values:
    one multi-row INSERT each instead of an ORM object (and its flush) per row.
    Ids follow this order, and the outbox delivers each conversation in id order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)

    async def insert(self, session: AsyncSession) -> None:
        connection = await session.connection()
        if self.events:
            await connection.execute(insert(RequestEvent), self.events)
        if self.notices:
            await connection.execute(insert(OutboxMessage), self.notices)


async def _done(session: AsyncSession, ids: list[int]) -> dict[int, set[tuple[ClockKind, int]]]:
    """The warnings and ladder steps already recorded, per request, in one query."""
    done: dict[int, set[tuple[ClockKind, int]]] = {request_id: set() for request_id in ids}
    rows = await session.execute(
        select(Escalation.request_id, Escalation.clock, Escalation.level).where(
            Escalation.request_id.in_(ids)
        )
    )
    for request_id, clock, level in rows:
        done[request_id].add((clock, level))
    return done


def _until_closed(due: list[Milestone]) -> list[Milestone]:
    """The due milestones up to the auto-close: nothing is acted on after a close."""
    for index, milestone in enumerate(due):
        if milestone.clock is ClockKind.SURVEY and milestone.level == AUTO_CLOSE_LEVEL:
            return due[: index + 1]
    return due


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
    outcome: Plan,
    claimed: set[tuple[int, ClockKind, int]],
    now: datetime,
    report: SweepReport,
    writes: _Writes,
) -> None:
    state = clock_state(request)
    for milestone in _until_closed(outcome.due):
        if (request.id, milestone.clock, milestone.level) not in claimed:
            continue  # another sweeper got there first: it acts, we don't
        await _act(session, request, milestone, ladder, state, now, report, writes)
    request.next_check_at = None if request.status is Status.CLOSED else outcome.next_check_at


async def _claim(
    session: AsyncSession, milestones: list[tuple[int, Milestone]], now: datetime
) -> set[tuple[int, ClockKind, int]]:
    """Insert an escalation row for each (request, milestone); return the ones this
    transaction inserted. Whoever inserts the row acts on it: exactly once."""
    if not milestones:
        return set()
    # In key order, so two claiming transactions never wait on each other in a cycle.
    ordered = sorted(milestones, key=lambda c: (c[0], c[1].clock.value, c[1].level))
    values = [
        {"request_id": request_id, "clock": m.clock, "level": m.level, "fired_at": now}
        for request_id, m in ordered
    ]
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(Escalation)
        .on_conflict_do_nothing(index_elements=["request_id", "clock", "level"])
        .returning(Escalation.request_id, Escalation.clock, Escalation.level)
    )
    # One statement with many rows (SQLAlchemy's "insertmanyvalues"), compiled once
    # and cached, whatever the number of rows.
    connection = await session.connection()
    rows = await connection.execute(statement, values)
    return {(request_id, ClockKind(clock), level) for request_id, clock, level in rows}


async def _act(
    session: AsyncSession,
    request: Request,
    milestone: Milestone,
    ladder: _Ladder,
    state: ClockState,
    now: datetime,
    report: SweepReport,
    writes: _Writes,
) -> None:
    if milestone.clock is ClockKind.SURVEY:
        if milestone.level == REMINDER_LEVEL:
            writes.events.append(noted(session, request, None, "survey_reminded", now))
            writes.notices.append(
                notices.person_row(request, request.requester_id, NoticeKind.SURVEY_REMINDER, now)
            )
            report.reminders += 1
        elif milestone.level == AUTO_CLOSE_LEVEL:
            request.status = Status.CLOSED
            request.closed_at = now
            writes.events.append(noted(session, request, None, "closed", now, reason="auto_closed"))
            writes.notices.append(notices.team_row(request, NoticeKind.TEAM_CARD, now))
            report.auto_closed += 1
        return
    if milestone.level == WARNING_LEVEL:
        writes.events.append(
            noted(session, request, None, "warned", now, clock=milestone.clock.value)
        )
        clock, lapses = milestone.clock.value, _due(request, milestone).isoformat()
        if request.assignee_id is not None:
            notice = notices.person_row(
                request, request.assignee_id, NoticeKind.WARNING, now, clock=clock, due_at=lapses
            )
        else:
            notice = notices.team_row(request, NoticeKind.WARNING, now, clock=clock, due_at=lapses)
        writes.notices.append(notice)
        report.warnings += 1
        log.info("warned", extra={"request": request.key, "clock": milestone.clock.value})
        return
    step = ladder.steps[milestone.level]
    if milestone.level not in ladder.recipients:
        ladder.recipients[milestone.level] = await _notify(session, request.team_id, step.notify)
    people = ladder.recipients[milestone.level]
    request.escalation_level = max(request.escalation_level, milestone.level)
    writes.events.append(
        noted(
            session,
            request,
            None,
            "escalated",
            now,
            clock=milestone.clock.value,
            level=milestone.level,
            notified=[p.display_name for p in people],
        )
    )
    for person in people:
        writes.notices.append(
            notices.person_row(
                request,
                person.id,
                NoticeKind.ESCALATION,
                now,
                deliver_at=(
                    now if step.urgent else await recipient_hours(session, person, ladder, now)
                ),
                clock=milestone.clock.value,
                level=milestone.level,
                waited_seconds=int(waited(state, ladder.calendar, now).total_seconds()),
            )
        )
    writes.notices.append(notices.team_row(request, NoticeKind.TEAM_CARD, now))
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
