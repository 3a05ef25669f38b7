"""A report's period, [since, until) at any instants, read from the rollups for the
whole UTC days (weeks) inside it and live from the requests for the partial ones
at its edges, which the index on requests (team_id, created_at) finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, false, func, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery

from models.requests import Request

DAY = timedelta(days=1)
WEEK = timedelta(days=7)

Source = Callable[[ColumnElement[bool], str], Select[Any]]


@dataclass(frozen=True)
class Period:
    team_ids: tuple[int, ...]
    since: datetime
    until: datetime
    dialect: str

    @property
    def requests(self) -> tuple[ColumnElement[bool], ...]:
        """The period as a filter on the requests themselves."""
        return (
            Request.team_id.in_(self.team_ids),
            Request.created_at >= self.since,
            Request.created_at < self.until,
        )

    def read(
        self,
        rollup: Any,
        source: Source,
        *,
        weekly: bool = False,
        where: tuple[ColumnElement[bool], ...] = (),
        by: tuple[str, ...] = (),
        sums: tuple[str, ...] = (),
    ) -> Subquery:
        """The rollup's rows for the period: stored for the whole buckets, computed
        by source for the partial ones; the same columns either way. With `by`, each
        part is first added up by those columns (only `by` and `sums` come back): the
        database then aggregates while it scans, instead of passing every row on."""
        first, last = whole_buckets(self.since, self.until, WEEK if weekly else DAY)
        if first >= last:
            edges = [(self.since, self.until)]
        else:
            edges = [
                (start, end)
                for start, end in ((self.since, midnight(first)), (midnight(last), self.until))
                if start < end
            ]
        parts: list[Select[Any]] = []
        if first < last:
            bucket = rollup.week if weekly else rollup.day
            names = [c.name for c in source(false(), self.dialect).selected_columns]
            stored = select(*(getattr(rollup, name) for name in names)).where(
                rollup.team_id.in_(self.team_ids), bucket >= first, bucket < last, *where
            )
            parts.append(_added_up(stored, by, sums))
        if edges:
            filed = (and_(Request.created_at >= a, Request.created_at < b) for a, b in edges)
            live = source(and_(Request.team_id.in_(self.team_ids), or_(*filed)), self.dialect)
            parts.append(_added_up(live, by, sums))
        return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


def _added_up(rows: Select[Any], by: tuple[str, ...], sums: tuple[str, ...]) -> Select[Any]:
    if not by:
        return rows
    part = rows.subquery()
    keys = [part.c[name] for name in by]
    return select(*keys, *(func.sum(part.c[name]).label(name) for name in sums)).group_by(*keys)


def whole_buckets(since: datetime, until: datetime, size: timedelta) -> tuple[date, date]:
    """[first, last): the buckets (UTC days, or weeks from Monday) wholly inside
    [since, until)."""
    first = since.astimezone(UTC).date()
    if midnight(first) < since:
        first += DAY
    last = until.astimezone(UTC).date()
    if size == WEEK:
        first += timedelta(days=-first.weekday() % 7)
        last -= timedelta(days=last.weekday())
    return first, last


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)
