"""Insight: where service breaks down, per team and per requesting department, and
who serves well.

Every figure is an SQL aggregate over the period's requests (filed in
[since, until)); Python only shapes the few grouped rows that come back. Medians
and p90s are window functions (row_number / count over the team), interpolated
like percentile_cont, so SQLite and PostgreSQL give the same answer.
Figures about individual people exist only when the catalog says `recognition`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Executable, SQLColumnExpression, and_, case, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from handlers.access import active_teams, find_team
from handlers.errors import UnknownTeam
from handlers.survey import desk_settings
from models.directory import Person, Team
from models.i18n import N_, _, format_number, format_share, ngettext
from models.requests import Escalation, Request, RequestEvent, Survey
from models.vocabulary import ACTIVE_STATUSES, ClockKind

NO_DEPARTMENT = "(none)"
# First-response histogram, in business seconds (a business day is 8 hours).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<1h", 0, 3600),
    ("1-4h", 3600, 4 * 3600),
    ("4-8h", 4 * 3600, 8 * 3600),
    ("1-2d", 8 * 3600, 16 * 3600),
    (">2d", 16 * 3600, None),
)
TOP_CATEGORIES = 3
WORST_CELLS = 3
WORST_MIN_VOLUME = 3
TOP_PEOPLE = 5


@dataclass(frozen=True)
class TeamFigures:
    team_key: str
    team_name: str
    filed: int
    resolved: int
    backlog: int  # active now, among all the team's requests
    backlog_oldest_age: timedelta | None  # wall-clock age of the oldest active request
    first_response_median: timedelta | None  # business time
    first_response_p90: timedelta | None
    resolution_median: timedelta | None  # business time the resolution clock ran
    resolution_p90: timedelta | None
    first_response_met: float | None  # among the period's answered requests
    resolution_met: float | None  # among the period's resolved requests
    breaches_by_level: dict[int, int]  # ladder level -> requests that reached it
    reopen_rate: float | None  # among the period's requests resolved at least once
    csat_average: float | None
    csat_distribution: dict[int, int]  # rating -> answers (every rating of the scale)
    csat_response_rate: float | None  # answered / sent
    top_breached_categories: list[tuple[str, int]]
    first_response_buckets: dict[str, int]


@dataclass(frozen=True)
class PairCell:
    department: str  # requesting department, NO_DEPARTMENT when unknown
    team_key: str
    team_name: str
    volume: int
    met: float | None  # resolved within standard, among resolved
    csat: float | None


@dataclass(frozen=True)
class Recognition:
    person: str
    team_key: str
    resolved_within_standard: int
    average_rating: float | None
    ratings: int


@dataclass(frozen=True)
class FiveStar:
    key: str
    team_key: str
    person: str | None
    comment: str


@dataclass(frozen=True)
class WeekPoint:
    team_key: str
    week_start: date  # the Monday (UTC) of the week the requests were filed
    volume: int
    met: float | None


@dataclass(frozen=True)
class Insight:
    since: datetime
    until: datetime
    teams: list[TeamFigures]
    matrix: list[PairCell]
    worst: list[PairCell]
    recognition: list[Recognition] | None  # None when recognition is off
    five_stars: list[FiveStar] | None  # None when recognition is off
    weekly: list[WeekPoint]


_RESOLVED = Request.resolved_at.is_not(None)
_WITHIN = and_(_RESOLVED, Request.resolution_consumed_seconds <= Request.resolution_target_seconds)


async def insight(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    team: str | None = None,
) -> Insight:
    teams = await _teams(session, team)
    ids = [t.id for t in teams]
    period = (Request.team_id.in_(ids), Request.created_at >= since, Request.created_at < until)
    by_id = {t.id: t for t in teams}
    settings = await desk_settings(session)
    figures = await _team_figures(session, teams, period, now, settings.survey_scale)
    matrix = await _matrix(session, by_id, period)
    recognition: list[Recognition] | None = None
    five_stars: list[FiveStar] | None = None
    if settings.recognition:
        recognition = await _recognition(session, by_id, period)
        five_stars = await _five_stars(session, by_id, period)
    return Insight(
        since=since,
        until=until,
        teams=figures,
        matrix=matrix,
        worst=worst_cells(matrix),
        recognition=recognition,
        five_stars=five_stars,
        weekly=await _weekly(session, by_id, period),
    )


def worst_cells(cells: Sequence[PairCell]) -> list[PairCell]:
    """The cells with enough volume that meet the standard least (ties: lower CSAT)."""
    candidates = [c for c in cells if c.volume >= WORST_MIN_VOLUME and c.met is not None]
    return sorted(
        candidates,
        key=lambda c: (c.met, c.csat is None, c.csat or 0.0, -c.volume, c.department, c.team_key),
    )[:WORST_CELLS]


def worst_cell_sentence(cell: PairCell) -> str:
    """'Sales → Finance: 41% within standard, CSAT 2.9, 23 requests' for the reader."""
    department = _(NO_DEPARTMENT) if cell.department == NO_DEPARTMENT else cell.department
    met = (
        _("{share} within standard", share=format_share(cell.met))
        if cell.met is not None
        else _("nothing resolved yet")
    )
    csat = (
        _("CSAT {rating}", rating=format_number(round(cell.csat, 1)))
        if cell.csat is not None
        else _("no ratings")
    )
    volume = ngettext("{n} request", "{n} requests", cell.volume)
    return _(
        "{department} → {team}: {met}, {csat}, {volume}",
        department=department,
        team=cell.team_name,
        met=met,
        csat=csat,
        volume=volume,
    )


async def _teams(session: AsyncSession, name: str | None) -> list[Team]:
    if name is None:
        return await active_teams(session)
    found = await find_team(session, name)
    if found is None:
        choices = [t.key for t in await active_teams(session)]
        raise UnknownTeam(N_("There is no team called '{name}'."), choices, name=name.strip())
    return [found]


async def _team_figures(
    session: AsyncSession,
    teams: list[Team],
    period: tuple[ColumnElement[bool], ...],
    now: datetime,
    scale: int,
) -> list[TeamFigures]:
    ids = [t.id for t in teams]
    counts = {row.team_id: row for row in await session.execute(_counts_query(period))}
    backlog = {
        team_id: (int(n), oldest)
        for team_id, n, oldest in await session.execute(
            select(Request.team_id, func.count(), func.min(Request.created_at))
            .where(Request.team_id.in_(ids), Request.status.in_(ACTIVE_STATUSES))
            .group_by(Request.team_id)
        )
    }
    answered = Request.first_response_business_seconds
    first = await _percentiles(session, answered, (*period, answered.is_not(None)))
    resolution = await _percentiles(
        session, Request.resolution_consumed_seconds, (*period, _RESOLVED)
    )
    breaches: dict[int, dict[int, int]] = defaultdict(dict)
    for team_id, level, n in await session.execute(
        select(Request.team_id, Escalation.level, func.count(func.distinct(Request.id)))
        .join(Escalation, Escalation.request_id == Request.id)
        .where(
            *period,
            Escalation.level >= 1,
            Escalation.clock.in_([ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION]),
        )
        .group_by(Request.team_id, Escalation.level)
    ):
        breaches[team_id][int(level)] = int(n)
    ratings: dict[int, dict[int | None, int]] = defaultdict(dict)
    for team_id, rating, n in await session.execute(
        select(Request.team_id, Survey.rating, func.count())
        .join(Survey, Survey.request_id == Request.id)
        .where(*period)
        .group_by(Request.team_id, Survey.rating)
    ):
        ratings[team_id][rating] = int(n)
    categories: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for team_id, category, n in await session.execute(
        select(Request.team_id, Request.category, func.count())
        .where(*period, Request.category.is_not(None), _breached(now))
        .group_by(Request.team_id, Request.category)
    ):
        categories[team_id].append((str(category), int(n)))
    result = []
    for team in teams:
        row = counts.get(team.id)
        active, oldest = backlog.get(team.id, (0, None))
        csat = _csat(ratings[team.id], scale)
        result.append(
            TeamFigures(
                team_key=team.key,
                team_name=team.name,
                filed=int(row.filed) if row else 0,
                resolved=int(row.resolved) if row else 0,
                backlog=active,
                backlog_oldest_age=now - _aware(oldest) if oldest is not None else None,
                first_response_median=first.get(team.id, (None, None))[0],
                first_response_p90=first.get(team.id, (None, None))[1],
                resolution_median=resolution.get(team.id, (None, None))[0],
                resolution_p90=resolution.get(team.id, (None, None))[1],
                first_response_met=_ratio(row.answered_in_time, row.answered) if row else None,
                resolution_met=_ratio(row.within, row.resolved) if row else None,
                breaches_by_level=dict(sorted(breaches[team.id].items())),
                reopen_rate=_ratio(row.reopened, row.resolved_once) if row else None,
                csat_average=csat[0],
                csat_distribution=csat[1],
                csat_response_rate=csat[2],
                top_breached_categories=sorted(categories[team.id], key=lambda c: (-c[1], c[0]))[
                    :TOP_CATEGORIES
                ],
                first_response_buckets={
                    label: int(getattr(row, f"bucket_{i}")) if row else 0
                    for i, (label, _low, _high) in enumerate(BUCKETS)
                },
            )
        )
    return result


def _counts_query(period: tuple[ColumnElement[bool], ...]) -> Executable:
    def event(kind: str) -> ColumnElement[bool]:
        return exists().where(RequestEvent.request_id == Request.id, RequestEvent.kind == kind)

    seconds = Request.first_response_business_seconds
    buckets = [
        func.count()
        .filter(and_(seconds >= low, seconds < high) if high is not None else seconds >= low)
        .label(f"bucket_{i}")
        for i, (_label, low, high) in enumerate(BUCKETS)
    ]
    return (
        select(
            Request.team_id.label("team_id"),
            func.count().label("filed"),
            func.count().filter(_RESOLVED).label("resolved"),
            func.count().filter(_WITHIN).label("within"),
            func.count().filter(Request.first_response_at.is_not(None)).label("answered"),
            func.count()
            .filter(Request.first_response_at <= Request.first_response_due_at)
            .label("answered_in_time"),
            func.count().filter(event("resolved")).label("resolved_once"),
            func.count().filter(and_(event("resolved"), event("reopened"))).label("reopened"),
            *buckets,
        )
        .where(*period)
        .group_by(Request.team_id)
    )


def _breached(now: datetime) -> ColumnElement[bool]:
    """Any clock lapsed: answered late or not yet and overdue, or resolution over time."""
    return (
        (Request.first_response_at > Request.first_response_due_at)
        | (Request.first_response_at.is_(None) & (Request.first_response_due_at <= now))
        | (Request.resolution_consumed_seconds > Request.resolution_target_seconds)
        | (Request.resolution_running_since.is_not(None) & (Request.resolution_due_at <= now))
    )


async def _percentiles(
    session: AsyncSession,
    value: SQLColumnExpression[Any],
    where: tuple[ColumnElement[bool], ...],
) -> dict[int, tuple[timedelta | None, timedelta | None]]:
    """Median and p90 per team, interpolated between neighbouring ranks like
    percentile_cont: rank 1 + p(n-1), its two neighbours picked by row_number()."""
    ranked = (
        select(
            Request.team_id.label("team_id"),
            value.label("v"),
            func.row_number().over(partition_by=Request.team_id, order_by=value).label("rn"),
            func.count().over(partition_by=Request.team_id).label("n"),
        )
        .where(*where)
        .subquery()
    )
    columns: list[ColumnElement[Any]] = [ranked.c.team_id, func.max(ranked.c.n)]
    for percent in (50, 90):
        low = 1 + (percent * (ranked.c.n - 1)) // 100
        columns.append(func.max(case((ranked.c.rn == low, ranked.c.v))))
        columns.append(func.max(case((ranked.c.rn == low + 1, ranked.c.v))))
    found: dict[int, tuple[timedelta | None, timedelta | None]] = {}
    for team_id, n, median_low, median_high, p90_low, p90_high in await session.execute(
        select(*columns).group_by(ranked.c.team_id)
    ):
        found[team_id] = (
            _interpolate(int(n), 50, median_low, median_high),
            _interpolate(int(n), 90, p90_low, p90_high),
        )
    return found


def _interpolate(n: int, percent: int, low: int | None, high: int | None) -> timedelta | None:
    if low is None:
        return None
    remainder = percent * (n - 1) % 100
    if not remainder or high is None:
        return timedelta(seconds=int(low))
    return timedelta(seconds=int(low) + (int(high) - int(low)) * remainder / 100)


def _csat(
    counts: dict[int | None, int], scale: int
) -> tuple[float | None, dict[int, int], float | None]:
    """(average, distribution, response rate) from the survey counts by rating."""
    distribution = {rating: 0 for rating in range(1, scale + 1)}
    for rating, n in counts.items():
        if rating is not None:
            distribution[rating] = distribution.get(rating, 0) + n
    answered = sum(distribution.values())
    sent = answered + counts.get(None, 0)
    total = sum(rating * n for rating, n in distribution.items())
    return (
        total / answered if answered else None,
        dict(sorted(distribution.items())),
        answered / sent if sent else None,
    )


async def _matrix(
    session: AsyncSession, teams: dict[int, Team], period: tuple[ColumnElement[bool], ...]
) -> list[PairCell]:
    # Grouped by the raw department; NULL and "" fold into one cell below.
    cells: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    rows = await session.execute(
        select(
            Person.department,
            Request.team_id,
            func.count(),
            func.count().filter(_RESOLVED),
            func.count().filter(_WITHIN),
            func.coalesce(func.sum(Survey.rating), 0),
            func.count(Survey.rating),
        )
        .join(Person, Person.id == Request.requester_id)
        .outerjoin(Survey, Survey.request_id == Request.id)
        .where(*period)
        .group_by(Person.department, Request.team_id)
    )
    for department, team_id, *figures in rows:
        cell = cells[(department or NO_DEPARTMENT, team_id)]
        for i, n in enumerate(figures):
            cell[i] += int(n or 0)
    return [
        PairCell(
            department=department,
            team_key=teams[team_id].key,
            team_name=teams[team_id].name,
            volume=volume,
            met=_ratio(within, resolved),
            csat=rating_sum / ratings if ratings else None,
        )
        for (department, team_id), (volume, resolved, within, rating_sum, ratings) in sorted(
            cells.items(), key=lambda item: (item[0][0], teams[item[0][1]].key)
        )
    ]


async def _recognition(
    session: AsyncSession, teams: dict[int, Team], period: tuple[ColumnElement[bool], ...]
) -> list[Recognition]:
    within = func.count().filter(_WITHIN).label("within")
    average = func.avg(Survey.rating).label("average")
    rows = await session.execute(
        select(
            Person.display_name,
            Request.team_id,
            within,
            average,
            func.count(Survey.rating),
        )
        .join(Person, Person.id == Request.assignee_id)
        .outerjoin(Survey, Survey.request_id == Request.id)
        .where(*period, _RESOLVED)
        .group_by(Person.id, Person.display_name, Request.team_id)
        .order_by(within.desc(), average.desc().nulls_last(), Person.display_name, Person.id)
        .limit(TOP_PEOPLE)
    )
    return [
        Recognition(
            person=name,
            team_key=teams[team_id].key,
            resolved_within_standard=int(n),
            average_rating=float(mean) if mean is not None else None,
            ratings=int(rated),
        )
        for name, team_id, n, mean, rated in rows
    ]


async def _five_stars(
    session: AsyncSession, teams: dict[int, Team], period: tuple[ColumnElement[bool], ...]
) -> list[FiveStar]:
    resolver = aliased(Person)
    rows = await session.execute(
        select(Request.key, Request.team_id, resolver.display_name, Survey.comment)
        .join(Survey, Survey.request_id == Request.id)
        .outerjoin(resolver, resolver.id == Request.assignee_id)
        .where(
            *period,
            Survey.rating == Survey.scale,
            Survey.comment.is_not(None),
            Survey.comment != "",
        )
        .order_by(Survey.answered_at, Request.key)
    )
    return [
        FiveStar(key=key, team_key=teams[team_id].key, person=person, comment=comment or "")
        for key, team_id, person, comment in rows
    ]


async def _weekly(
    session: AsyncSession, teams: dict[int, Team], period: tuple[ColumnElement[bool], ...]
) -> list[WeekPoint]:
    # The Monday of created_at's ISO week (UTC), in each dialect's own words; the
    # subquery keeps the expression's parameters out of GROUP BY (PostgreSQL).
    if session.get_bind().dialect.name == "postgresql":
        monday: ColumnElement[date] = cast(
            func.date_trunc("week", func.timezone("UTC", Request.created_at)), Date
        )
    else:
        monday = func.date(Request.created_at, "weekday 0", "-6 days", type_=Date)
    filed = (
        select(
            Request.team_id.label("team_id"),
            monday.label("week"),
            Request.resolved_at,
            Request.resolution_consumed_seconds,
            Request.resolution_target_seconds,
        )
        .where(*period)
        .subquery()
    )
    resolved = filed.c.resolved_at.is_not(None)
    rows = await session.execute(
        select(
            filed.c.team_id,
            filed.c.week,
            func.count(),
            func.count().filter(resolved),
            func.count().filter(
                and_(
                    resolved,
                    filed.c.resolution_consumed_seconds <= filed.c.resolution_target_seconds,
                )
            ),
        ).group_by(filed.c.team_id, filed.c.week)
    )
    points = [
        WeekPoint(
            team_key=teams[team_id].key,
            week_start=week if isinstance(week, date) else date.fromisoformat(str(week)),
            volume=int(volume),
            met=_ratio(within, resolved_n),
        )
        for team_id, week, volume, resolved_n, within in rows
    ]
    return sorted(points, key=lambda p: (p.team_key, p.week_start))


def _ratio(part: int | None, whole: int | None) -> float | None:
    return int(part or 0) / int(whole) if whole else None


def _aware(moment: datetime) -> datetime:
    # An aggregate may bypass the column type: SQLite can hand back a naive UTC value.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
