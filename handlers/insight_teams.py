"""Per-team insight figures: counts, backlog, first-response and resolution
percentiles, standards met, breaches by ladder level, reopen rate and CSAT.

Every figure is an SQL aggregate grouped by team. Medians and p90s are window
functions (row_number / count over the team), interpolated like percentile_cont,
so SQLite and PostgreSQL give the same answer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Executable, SQLColumnExpression, and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from handlers.insight_measures import RESOLVED, WITHIN, ratio
from models.directory import Team
from models.requests import Escalation, Request, RequestEvent, Survey
from models.vocabulary import ACTIVE_STATUSES, ClockKind

# First-response histogram, in business seconds (a business day is 8 hours).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<1h", 0, 3600),
    ("1-4h", 3600, 4 * 3600),
    ("4-8h", 4 * 3600, 8 * 3600),
    ("1-2d", 8 * 3600, 16 * 3600),
    (">2d", 16 * 3600, None),
)
TOP_CATEGORIES = 3


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


async def team_figures(
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
        session, Request.resolution_consumed_seconds, (*period, RESOLVED)
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
                first_response_met=ratio(row.answered_in_time, row.answered) if row else None,
                resolution_met=ratio(row.within, row.resolved) if row else None,
                breaches_by_level=dict(sorted(breaches[team.id].items())),
                reopen_rate=ratio(row.reopened, row.resolved_once) if row else None,
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
            func.count().filter(RESOLVED).label("resolved"),
            func.count().filter(WITHIN).label("within"),
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


def _aware(moment: datetime) -> datetime:
    # An aggregate may bypass the column type: SQLite can hand back a naive UTC value.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
