"""Keeping the insight rollups (models.insight_rollup) in step with the requests.

Every change to a request goes through handlers.access.record, which notes the
request's buckets here; just before that transaction commits, those buckets are
recomputed from the requests (handlers.insight_sources), so a report asked right
after any action already counts it, and a rolled-back action leaves nothing behind.
A bucket is a team's UTC day (its week for the durations): about 70 requests at a
million a year over 40 teams, so the recomputation is small and indexed.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from sqlalchemy import BigInteger, and_, cast, delete, event, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from handlers.insight_period import DAY, WEEK, midnight
from handlers.insight_sources import (
    category_rows,
    day_of,
    days_rows,
    duration_rows,
    level_rows,
    people_rows,
    rating_rows,
)
from models.insight_rollup import (
    InsightCategory,
    InsightDay,
    InsightDuration,
    InsightPerson,
    InsightTally,
)
from models.requests import Request

_TOUCHED = "insight_touched"  # key in Session.info: {(team_id, UTC day)}
# PostgreSQL advisory lock namespace: one lock per team serialises recomputing its
# buckets, else two commits could each delete the other's fresh rows or insert twice.
_LOCK_BASE = 6_000_000_000


def touch(session: AsyncSession, request: Request) -> None:
    """The request changed: recompute its buckets when the transaction commits."""
    session.info.setdefault(_TOUCHED, set()).add(
        (request.team_id, request.created_at.astimezone(UTC).date())
    )


async def touch_requester(session: AsyncSession, person_id: int) -> None:
    """The person's department changed: it moves all their requests in the matrix."""
    dialect = session.get_bind().dialect.name
    day = day_of(Request.created_at, dialect).label("day")
    rows = await session.execute(
        select(Request.team_id, day).where(Request.requester_id == person_id).distinct()
    )
    session.info.setdefault(_TOUCHED, set()).update(
        (int(team_id), _as_date(found)) for team_id, found in rows
    )


@event.listens_for(Session, "before_commit")
def _recompute_touched(session: Session) -> None:
    touched: set[tuple[int, date]] | None = session.info.pop(_TOUCHED, None)
    if touched:
        session.flush()
        recompute(session, touched)


@event.listens_for(Session, "after_rollback")
def _forget_touched(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


def recompute(session: Session, days: set[tuple[int, date]]) -> None:
    """Replace the rollup rows of these (team, UTC day) buckets, and of their weeks'
    durations, with what the requests say now."""
    # Core statements on the session's connection: nothing here needs the ORM's work.
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        for team_id in sorted({team_id for team_id, _day in days}):
            connection.execute(
                select(func.pg_advisory_xact_lock(cast(_LOCK_BASE + team_id, BigInteger)))
            )
    weeks = {(team_id, day - timedelta(days=day.weekday())) for team_id, day in days}
    filed_on = _filed(days, DAY)
    filed_in = _filed(weeks, WEEK)
    for model, sources in (
        (InsightDay, (days_rows,)),
        (InsightTally, (rating_rows, level_rows)),
        (InsightCategory, (category_rows,)),
        (InsightPerson, (people_rows,)),
    ):
        connection.execute(
            delete(model).where(
                or_(*(and_(model.team_id == t, model.day == d) for t, d in sorted(days)))
            )
        )
        for source in sources:
            rows = source(filed_on, dialect)
            names = [c.name for c in rows.selected_columns]
            connection.execute(insert(model).from_select(names, rows))
    connection.execute(
        delete(InsightDuration).where(
            or_(
                *(
                    and_(InsightDuration.team_id == t, InsightDuration.week == w)
                    for t, w in sorted(weeks)
                )
            )
        )
    )
    rows = duration_rows(filed_in, dialect)
    names = [c.name for c in rows.selected_columns]
    connection.execute(insert(InsightDuration).from_select(names, rows))


def _filed(buckets: set[tuple[int, date]], size: timedelta) -> ColumnElement[bool]:
    return or_(
        *(
            and_(
                Request.team_id == team_id,
                Request.created_at >= midnight(start),
                Request.created_at < midnight(start) + size,
            )
            for team_id, start in sorted(buckets)
        )
    )


def _as_date(value: Any) -> date:
    # SQLite hands back date() as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))
