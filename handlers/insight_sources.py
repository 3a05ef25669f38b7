"""How each insight rollup's rows are computed from the requests.

One grouped SELECT per rollup, for any filter on the requests, and the one place
that says what a request contributes to the rollups: filtered to the requests a
transaction changes, before and after, they give the difference its commit adds
(handlers.insight_rollup); filtered to everything, a full rebuild; and a report
computes the partial buckets at its period's edges with them
(handlers.insight_period), so the rows read live and the rows stored always agree.
Every figure is a count or a sum over requests, so the rows of any set of requests
add up. Migration 0010 backfilled the same figures in its own SQL.

Each query groups an inner per-request SELECT by its plain columns: PostgreSQL
refuses a GROUP BY whose expression repeats a bound parameter of the SELECT list.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    SQLColumnExpression,
    String,
    case,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from handlers.insight_measures import BUCKETS, REOPENED, RESOLVED, RESOLVED_ONCE, WITHIN
from handlers.insight_percentiles import bucket_of
from models.directory import Person
from models.requests import (
    Escalation,
    Request,
    Survey,
    resolution_consumed_whole_seconds,
    resolution_within_standard,
)
from models.vocabulary import ACTIVE_STATUSES, ClockKind

RATING = "rating"
LEVEL = "level"
# The per-request flags insight_days adds up, besides the volume.
DAY_FLAGS = (
    "resolved",
    "within",
    "answered",
    "answered_in_time",
    "resolved_once",
    "reopened",
    *(f"bucket_{i}" for i in range(len(BUCKETS))),
    "surveys",
    "ratings",
)


def day_of(moment: SQLColumnExpression[Any], dialect: str) -> ColumnElement[date]:
    """The UTC day of a stored instant."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", moment), Date)
    return func.date(moment, type_=Date)


def week_of(day: SQLColumnExpression[Any], dialect: str) -> ColumnElement[date]:
    """The Monday of a day's ISO week."""
    if dialect == "postgresql":
        return cast(func.date_trunc("week", cast(day, DateTime)), Date)
    return func.date(day, "weekday 0", "-6 days", type_=Date)


def days_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    seconds = Request.first_response_business_seconds
    flags = {
        "resolved": RESOLVED,
        "within": WITHIN,
        "answered": Request.first_response_at.is_not(None),
        "answered_in_time": Request.first_response_at <= Request.first_response_due_at,
        "resolved_once": RESOLVED_ONCE,
        "reopened": REOPENED,
        **{
            f"bucket_{i}": (seconds >= low) & (seconds < high)
            if high is not None
            else seconds >= low
            for i, (_label, low, high) in enumerate(BUCKETS)
        },
        "surveys": Survey.id.is_not(None),
        "ratings": Survey.rating.is_not(None),
    }
    facts = (
        select(
            Request.team_id.label("team_id"),
            day_of(Request.created_at, dialect).label("day"),
            *(case((condition, 1), else_=0).label(name) for name, condition in flags.items()),
            func.coalesce(Survey.rating, 0).label("rating"),
        )
        .outerjoin(Survey, Survey.request_id == Request.id)
        .where(where)
        .subquery()
    )
    keys = (facts.c.team_id, facts.c.day)
    return select(
        *keys,
        func.count().label("volume"),
        *(func.sum(facts.c[name]).label(name) for name in DAY_FLAGS),
        func.sum(facts.c.rating).label("rating_sum"),
    ).group_by(*keys)


def department_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """The matrix's counts per requesting department (today's, '' for none)."""
    facts = (
        select(
            Request.team_id.label("team_id"),
            day_of(Request.created_at, dialect).label("day"),
            func.coalesce(Person.department, "").label("department"),
            case((RESOLVED, 1), else_=0).label("resolved"),
            case((WITHIN, 1), else_=0).label("within"),
            case((Survey.rating.is_not(None), 1), else_=0).label("ratings"),
            func.coalesce(Survey.rating, 0).label("rating"),
        )
        .join(Person, Person.id == Request.requester_id)
        .outerjoin(Survey, Survey.request_id == Request.id)
        .where(where)
        .subquery()
    )
    keys = (facts.c.team_id, facts.c.day, facts.c.department)
    return select(
        *keys,
        func.count().label("volume"),
        func.sum(facts.c.resolved).label("resolved"),
        func.sum(facts.c.within).label("within"),
        func.sum(facts.c.ratings).label("ratings"),
        func.sum(facts.c.rating).label("rating_sum"),
    ).group_by(*keys)


def rating_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """Answered surveys per rating."""
    facts = (
        select(
            Request.team_id.label("team_id"),
            day_of(Request.created_at, dialect).label("day"),
            Survey.rating.label("value"),
        )
        .join(Survey, Survey.request_id == Request.id)
        .where(where, Survey.rating.is_not(None))
        .subquery()
    )
    return _tally(facts, RATING)


def level_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """Requests that reached each ladder level, on either clock (counted once)."""
    facts = (
        select(
            Request.team_id.label("team_id"),
            day_of(Request.created_at, dialect).label("day"),
            Escalation.level.label("value"),
            Request.id,
        )
        .join(Escalation, Escalation.request_id == Request.id)
        .where(
            where,
            Escalation.level >= 1,
            (Escalation.clock == ClockKind.FIRST_RESPONSE)
            | (Escalation.clock == ClockKind.RESOLUTION),
        )
        .distinct()
        .subquery()
    )
    return _tally(facts, LEVEL)


def _tally(facts: Any, kind: str) -> Select[Any]:
    keys = (facts.c.team_id, facts.c.day)
    return select(
        *keys,
        literal_column(f"'{kind}'", String).label("kind"),
        facts.c.value,
        func.count().label("n"),
    ).group_by(*keys, facts.c.value)


def category_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """Breached requests per category, among those no longer active. Those are
    answered and their resolution clock stopped (resolve does both), so whether
    they breached no longer depends on the time; active ones are read live."""
    breached = (Request.first_response_at > Request.first_response_due_at) | (
        ~resolution_within_standard()
    )
    facts = (
        select(
            Request.team_id.label("team_id"),
            day_of(Request.created_at, dialect).label("day"),
            Request.category.label("category"),
        )
        .where(
            where,
            Request.category.is_not(None),
            *(Request.status != status for status in ACTIVE_STATUSES),
            breached,
        )
        .subquery()
    )
    keys = (facts.c.team_id, facts.c.day, facts.c.category)
    return select(*keys, func.count().label("breached")).group_by(*keys)


def people_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """Resolved requests per assignee: within standard, and their ratings."""
    facts = (
        select(
            Request.team_id.label("team_id"),
            day_of(Request.created_at, dialect).label("day"),
            Request.assignee_id.label("assignee_id"),
            case((WITHIN, 1), else_=0).label("within"),
            case((Survey.rating.is_not(None), 1), else_=0).label("rated"),
            func.coalesce(Survey.rating, 0).label("rating"),
        )
        .outerjoin(Survey, Survey.request_id == Request.id)
        .where(where, RESOLVED, Request.assignee_id.is_not(None))
        .subquery()
    )
    keys = (facts.c.team_id, facts.c.day, facts.c.assignee_id)
    return select(
        *keys,
        func.count().label("resolved"),
        func.sum(facts.c.within).label("within"),
        func.sum(facts.c.rated).label("ratings"),
        func.sum(facts.c.rating).label("rating_sum"),
    ).group_by(*keys)


def duration_rows(where: ColumnElement[bool], dialect: str) -> Select[Any]:
    """Requests per bucket of business seconds, on each clock: to the first response
    (answered ones), and on the resolution clock (resolved ones). One row serves
    both clocks, so a report reads the histograms in one pass."""
    week = week_of(day_of(Request.created_at, dialect), dialect)

    def facts(seconds: SQLColumnExpression[Any], counted: ColumnElement[bool], first: int) -> Any:
        return select(
            Request.team_id.label("team_id"),
            week.label("week"),
            bucket_of(seconds).label("bucket"),
            literal_column(str(first), Integer).label("first_response"),
            literal_column(str(1 - first), Integer).label("resolution"),
        ).where(where, counted)

    answered = Request.first_response_business_seconds
    both = union_all(
        facts(answered, answered.is_not(None), 1),
        facts(resolution_consumed_whole_seconds(), RESOLVED, 0),
    ).subquery()
    keys = (both.c.team_id, both.c.week, both.c.bucket)
    return select(
        *keys,
        func.sum(both.c.first_response).label("first_response"),
        func.sum(both.c.resolution).label("resolution"),
    ).group_by(*keys)
