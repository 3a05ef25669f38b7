"""Keeping the insight rollups (models.insight_rollup) in step with the requests.

Every change to a request goes through handlers.access.record, which notes the
request's buckets here; just before that transaction commits, those buckets are
recomputed from the requests (handlers.insight_sources), so a report asked right
after any action already counts it, and a rolled-back action leaves nothing behind.
A bucket is a team's UTC day (its week for the durations): about 70 requests at a
million a year over 40 teams, so the recomputation is small and indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Executable,
    and_,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from handlers.insight_period import DAY, WEEK, Source, midnight
from handlers.insight_sources import (
    category_rows,
    day_of,
    days_rows,
    department_rows,
    duration_rows,
    level_rows,
    people_rows,
    rating_rows,
)
from models.insight_rollup import (
    InsightCategory,
    InsightDay,
    InsightDepartment,
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
    statements = _statements(connection.dialect.name)
    if connection.dialect.name == "postgresql":
        for team_id in sorted({team_id for team_id, _day in days}):
            connection.execute(statements.lock, {"key": _LOCK_BASE + team_id})
    weeks = {(team_id, day - timedelta(days=day.weekday())) for team_id, day in days}
    for buckets, size, deletes, inserts in (
        (days, DAY, statements.delete_days, statements.insert_days),
        (weeks, WEEK, statements.delete_weeks, statements.insert_weeks),
    ):
        params = [
            {"team_id": t, "bucket": b, "start": midnight(b), "end": midnight(b) + size}
            for t, b in sorted(buckets)
        ]
        for statement in (*deletes, *inserts):
            # One statement per rollup whatever the number of buckets (executemany).
            connection.execute(statement, params)


@dataclass(frozen=True)
class _Statements:
    lock: Executable
    delete_days: tuple[Executable, ...]
    insert_days: tuple[Executable, ...]
    delete_weeks: tuple[Executable, ...]
    insert_weeks: tuple[Executable, ...]


@cache
def _statements(dialect: str) -> _Statements:
    """Built once: a commit only binds its buckets (team_id, bucket, start, end)."""
    filed = and_(
        Request.team_id == bindparam("team_id"),
        Request.created_at >= bindparam("start"),
        Request.created_at < bindparam("end"),
    )

    def refill(model: Any, source: Source) -> Executable:
        rows = source(filed, dialect)
        return insert(model).from_select([c.name for c in rows.selected_columns], rows)

    def empty(model: Any, bucket: Any) -> Executable:
        return delete(model).where(
            model.team_id == bindparam("team_id"), bucket == bindparam("bucket")
        )

    daily = (InsightDay, InsightDepartment, InsightTally, InsightCategory, InsightPerson)
    return _Statements(
        lock=select(func.pg_advisory_xact_lock(cast(bindparam("key"), BigInteger))),
        delete_days=tuple(empty(model, model.day) for model in daily),
        insert_days=(
            refill(InsightDay, days_rows),
            refill(InsightDepartment, department_rows),
            refill(InsightTally, rating_rows),
            refill(InsightTally, level_rows),
            refill(InsightCategory, category_rows),
            refill(InsightPerson, people_rows),
        ),
        delete_weeks=(empty(InsightDuration, InsightDuration.week),),
        insert_weeks=(refill(InsightDuration, duration_rows),),
    )


def _as_date(value: Any) -> date:
    # SQLite hands back date() as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))
