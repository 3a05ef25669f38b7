"""Per-team insight figures: counts, backlog, first-response and resolution
percentiles, standards met, breaches by ladder level, reopen rate and CSAT.

Every figure is an SQL aggregate grouped by team, over the rollups for the
period's whole days and the requests for its partial ones (handlers.insight_period).
The backlog and the breaches of still-active requests depend on the moment, so
they are read live, from the few active requests. Medians and p90s come from the
weekly histograms (handlers.insight_percentiles: within 1/16 of the value).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from handlers.insight_measures import BUCKETS, ratio
from handlers.insight_percentiles import CLOCKS, percentiles, ranked
from handlers.insight_period import Period
from handlers.insight_sources import (
    DAY_FLAGS,
    LEVEL,
    RATING,
    category_rows,
    days_rows,
    duration_rows,
    level_rows,
    rating_rows,
)
from models.directory import Team
from models.insight_rollup import InsightCategory, InsightDay, InsightDuration, InsightTally
from models.requests import Request, resolution_within_standard
from models.vocabulary import ACTIVE_STATUSES

TOP_CATEGORIES = 3
K = TypeVar("K")


@dataclass(frozen=True)
class TeamFigures:
    team_key: str
    team_name: str
    filed: int
    resolved: int
    backlog: int  # active now, among all the team's requests
    backlog_oldest_age: timedelta | None  # wall-clock age of the oldest active request
    first_response_median: timedelta | None  # business time, within 1/16
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
    period: Period,
    now: datetime,
    scale: int,
) -> list[TeamFigures]:
    days = period.read(InsightDay, days_rows, by=("team_id",), sums=("volume", *DAY_FLAGS))
    counts = {
        row.team_id: row
        for row in await session.execute(
            select(
                days.c.team_id,
                func.sum(days.c.volume).label("filed"),
                *(func.sum(days.c[name]).label(name) for name in DAY_FLAGS),
            ).group_by(days.c.team_id)
        )
    }
    backlog, active_breaches = await _active(session, period, now)
    durations = await _percentiles(session, period)
    first, resolution = durations["first_response"], durations["resolution"]
    breaches = await _tallies(session, period, LEVEL)
    ratings = await _tallies(session, period, RATING)
    categories = await _settled_breaches(session, period)
    result = []
    for team in teams:
        row = counts.get(team.id)
        active, oldest = backlog.get(team.id, (0, None))
        unanswered = int(row.surveys) - int(row.ratings) if row else 0
        csat = _csat(ratings[team.id], unanswered, scale)
        result.append(
            TeamFigures(
                team_key=team.key,
                team_name=team.name,
                filed=int(row.filed) if row else 0,
                resolved=int(row.resolved) if row else 0,
                backlog=active,
                backlog_oldest_age=now - oldest if oldest is not None else None,
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
                top_breached_categories=_top(categories[team.id], active_breaches[team.id]),
                first_response_buckets={
                    label: int(getattr(row, f"bucket_{i}")) if row else 0
                    for i, (label, _low, _high) in enumerate(BUCKETS)
                },
            )
        )
    return result


async def _percentiles(
    session: AsyncSession, period: Period
) -> dict[str, dict[int, tuple[timedelta, timedelta]]]:
    histogram = period.read(
        InsightDuration,
        duration_rows,
        weekly=True,
        by=("team_id", "bucket"),
        sums=CLOCKS,
    )
    return percentiles(await session.execute(ranked(histogram)))


async def _tallies(session: AsyncSession, period: Period, kind: str) -> dict[int, dict[int, int]]:
    """value -> requests, per team: answers per rating, or requests per ladder level."""
    source = rating_rows if kind == RATING else level_rows
    tallies = period.read(
        InsightTally,
        source,
        where=(InsightTally.kind == kind,),
        by=("team_id", "value"),
        sums=("n",),
    )
    return await _per_team(session, tallies, "value", "n", int)


async def _settled_breaches(session: AsyncSession, period: Period) -> dict[int, dict[str, int]]:
    """Breached requests per category among those no longer active, per team."""
    settled = period.read(
        InsightCategory, category_rows, by=("team_id", "category"), sums=("breached",)
    )
    return await _per_team(session, settled, "category", "breached", str)


async def _per_team(
    session: AsyncSession, rows: Subquery, key: str, total: str, as_key: Callable[[Any], K]
) -> dict[int, dict[K, int]]:
    """{team: {key: sum of total}} over the period's rows."""
    found: dict[int, dict[K, int]] = defaultdict(dict)
    for team_id, value, n in await session.execute(
        select(rows.c.team_id, rows.c[key], func.sum(rows.c[total])).group_by(
            rows.c.team_id, rows.c[key]
        )
    ):
        found[team_id][as_key(value)] = int(n)
    return found


async def _active(
    session: AsyncSession, period: Period, now: datetime
) -> tuple[dict[int, tuple[int, datetime]], dict[int, dict[str, int]]]:
    """The backlog (active now, whenever filed) and, among the period's active requests,
    the breached ones per category: what depends on the moment, in one pass over the
    active requests."""
    in_period = and_(Request.created_at >= period.since, Request.created_at < period.until)
    backlog: dict[int, tuple[int, datetime]] = {}
    breached: dict[int, dict[str, int]] = defaultdict(dict)
    for team_id, category, n, oldest, late in await session.execute(
        select(
            Request.team_id,
            Request.category,
            func.count(),
            func.min(Request.created_at),
            func.count().filter(in_period, _breached(now)),
        )
        .where(Request.team_id.in_(period.team_ids), Request.status.in_(ACTIVE_STATUSES))
        .group_by(Request.team_id, Request.category)
    ):
        count, first = backlog.get(team_id, (0, _aware(oldest)))
        backlog[team_id] = (count + int(n), min(first, _aware(oldest)))
        if category is not None and late:
            breached[team_id][str(category)] = int(late)
    return backlog, breached


def _top(settled: dict[str, int], active: dict[str, int]) -> list[tuple[str, int]]:
    totals = {c: settled.get(c, 0) + active.get(c, 0) for c in settled.keys() | active.keys()}
    return sorted(totals.items(), key=lambda c: (-c[1], c[0]))[:TOP_CATEGORIES]


def _breached(now: datetime) -> ColumnElement[bool]:
    """Any clock lapsed: answered late or not yet and overdue, or resolution over time."""
    return (
        (Request.first_response_at > Request.first_response_due_at)
        | (Request.first_response_at.is_(None) & (Request.first_response_due_at <= now))
        | ~resolution_within_standard()
        | (Request.resolution_running_since.is_not(None) & (Request.resolution_due_at <= now))
    )


def _csat(
    counts: dict[int, int], unanswered: int, scale: int
) -> tuple[float | None, dict[int, int], float | None]:
    """(average, distribution, response rate) from the answers by rating."""
    distribution = {rating: 0 for rating in range(1, scale + 1)}
    for rating, n in counts.items():
        distribution[rating] = distribution.get(rating, 0) + n
    answered = sum(distribution.values())
    sent = answered + unanswered
    total = sum(rating * n for rating, n in distribution.items())
    return (
        total / answered if answered else None,
        dict(sorted(distribution.items())),
        answered / sent if sent else None,
    )


def _aware(moment: datetime) -> datetime:
    # An aggregate may bypass the column type: SQLite can hand back a naive UTC value.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
