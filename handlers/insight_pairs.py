"""Cross-team insight figures: the requesting-department × team matrix, the people
who serve well and their five-star comments, and each team's weekly trend.

Recognition and five-star comments name individual people; handlers.insight asks
for them only when the catalog says `recognition`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from handlers.insight_measures import RESOLVED, WITHIN, ratio
from models.directory import Person, Team
from models.requests import Request, Survey

NO_DEPARTMENT = "(none)"
TOP_PEOPLE = 5


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


async def department_matrix(
    session: AsyncSession, teams: dict[int, Team], period: tuple[ColumnElement[bool], ...]
) -> list[PairCell]:
    # Grouped by the raw department; NULL and "" fold into one cell below.
    cells: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    rows = await session.execute(
        select(
            Person.department,
            Request.team_id,
            func.count(),
            func.count().filter(RESOLVED),
            func.count().filter(WITHIN),
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
            met=ratio(within, resolved),
            csat=rating_sum / ratings if ratings else None,
        )
        for (department, team_id), (volume, resolved, within, rating_sum, ratings) in sorted(
            cells.items(), key=lambda item: (item[0][0], teams[item[0][1]].key)
        )
    ]


async def recognised_people(
    session: AsyncSession, teams: dict[int, Team], period: tuple[ColumnElement[bool], ...]
) -> list[Recognition]:
    within = func.count().filter(WITHIN).label("within")
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
        .where(*period, RESOLVED)
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


async def five_star_comments(
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


async def weekly_trend(
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
            met=ratio(within, resolved_n),
        )
        for team_id, week, volume, resolved_n, within in rows
    ]
    return sorted(points, key=lambda p: (p.team_key, p.week_start))
