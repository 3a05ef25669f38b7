"""Cross-team insight figures: the requesting-department × team matrix, the people
who serve well and their latest five-star comments, and each team's weekly trend.

All but the comments are read from the rollups (handlers.insight_period).
Recognition and five-star comments name individual people; handlers.insight asks
for them only when the catalog says `recognition`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Float, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from handlers.insight_measures import ratio
from handlers.insight_period import Period
from handlers.insight_sources import days_rows, department_rows, people_rows, week_of
from models.directory import Person, Team
from models.insight_rollup import InsightDay, InsightDepartment, InsightPerson
from models.requests import Request, Survey

NO_DEPARTMENT = "(none)"
TOP_PEOPLE = 5
# The latest comments only: a year of a large desk has tens of thousands.
FIVE_STARS = 10


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
    # Who may see this line (handlers.recognition); not part of the figures.
    person_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FiveStar:
    key: str
    team_key: str
    person: str | None
    comment: str
    # Who served, so who may see it (handlers.recognition); not part of the figures.
    person_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class WeekPoint:
    team_key: str
    week_start: date  # the Monday (UTC) of the week the requests were filed
    volume: int
    met: float | None


async def department_matrix(
    session: AsyncSession, teams: dict[int, Team], period: Period
) -> list[PairCell]:
    # Grouped by the stored department ('' for none), folded with NO_DEPARTMENT below.
    days = period.read(
        InsightDepartment,
        department_rows,
        by=("department", "team_id"),
        sums=("volume", "resolved", "within", "rating_sum", "ratings"),
    )
    cells: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    rows = await session.execute(
        select(
            days.c.department,
            days.c.team_id,
            func.sum(days.c.volume),
            func.sum(days.c.resolved),
            func.sum(days.c.within),
            func.sum(days.c.rating_sum),
            func.sum(days.c.ratings),
        ).group_by(days.c.department, days.c.team_id)
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
    session: AsyncSession, teams: dict[int, Team], period: Period
) -> list[Recognition]:
    people = period.read(
        InsightPerson,
        people_rows,
        by=("team_id", "assignee_id"),
        sums=("within", "ratings", "rating_sum"),
    )
    within = func.sum(people.c.within).label("within")
    rated = func.sum(people.c.ratings)
    average = (cast(func.sum(people.c.rating_sum), Float) / func.nullif(rated, 0)).label("average")
    rows = await session.execute(
        select(Person.display_name, people.c.team_id, within, average, rated, Person.id)
        .join(Person, Person.id == people.c.assignee_id)
        .group_by(Person.id, Person.display_name, people.c.team_id)
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
            person_id=person_id,
        )
        for name, team_id, n, mean, rated, person_id in rows
    ]


async def five_star_comments(
    session: AsyncSession, teams: dict[int, Team], period: Period
) -> list[FiveStar]:
    """The latest FIVE_STARS, oldest first. A survey is answered after its request
    was filed, so the index on answered_at is read back from now to `since` at most."""
    resolver = aliased(Person)
    rows = await session.execute(
        select(
            Request.key,
            Request.team_id,
            resolver.display_name,
            Survey.comment,
            Survey.answered_at,
            resolver.id,
        )
        .join(Survey, Survey.request_id == Request.id)
        .outerjoin(resolver, resolver.id == Request.assignee_id)
        .where(
            *period.requests,
            Survey.answered_at >= period.since,
            Survey.rating == Survey.scale,
            Survey.comment.is_not(None),
            Survey.comment != "",
        )
        # The index's order alone, so the scan stops after the latest few.
        .order_by(Survey.answered_at.desc())
        .limit(FIVE_STARS)
    )
    return [
        FiveStar(
            key=key,
            team_key=teams[team_id].key,
            person=person,
            comment=comment or "",
            person_id=person_id,
        )
        for key, team_id, person, comment, _answered, person_id in sorted(
            rows, key=lambda r: (r[4], r[0])
        )
    ]


async def weekly_trend(
    session: AsyncSession, teams: dict[int, Team], period: Period
) -> list[WeekPoint]:
    days = period.read(InsightDay, days_rows)
    # The subquery keeps week_of's parameters out of GROUP BY (PostgreSQL).
    filed = select(
        days.c.team_id,
        week_of(days.c.day, period.dialect).label("week"),
        days.c.volume,
        days.c.resolved,
        days.c.within,
    ).subquery()
    rows = await session.execute(
        select(
            filed.c.team_id,
            filed.c.week,
            func.sum(filed.c.volume),
            func.sum(filed.c.resolved),
            func.sum(filed.c.within),
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
