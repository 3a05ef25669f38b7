"""Medians and p90s from a histogram of business seconds, so a year's percentiles
are read from the weekly rollup instead of sorting every request.

Buckets: exact below 32 s; above, 16 buckets per power of two, so a bucket
[low, low + width) has width <= low / 16. A rank's value is placed inside its
bucket as if the bucket's values were evenly spread, then neighbouring ranks are
interpolated like percentile_cont. The true value lies in the same bucket, so the
error is under one bucket width: **under 1/16 (6.25 %) of the value**, usually a
fraction of that (a median of exactly one hour, alone in its bucket [3,584, 3,712),
reads 3,648 s).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    SQLColumnExpression,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery

EXACT_BELOW = 32
PER_POWER_OF_TWO_BITS = 4  # 2**4 = 16 buckets per power of two
PERCENTS = (50, 90)
CLOCKS = ("first_response", "resolution")  # the histogram columns
_TOP_BIT = 30  # the last power of two below the 32-bit integers' limit


def bucket_of(value: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """The lower bound of value's bucket, in SQL both dialects run the same way."""

    def constant(n: int) -> ColumnElement[int]:
        # Literal, not bound: PostgreSQL cannot type a parameter that is only a CASE result.
        return literal_column(str(n), Integer)

    width = case(
        (value < constant(EXACT_BELOW), constant(1)),
        *(
            (value < constant(2 ** (bit + 1)), constant(2 ** (bit - PER_POWER_OF_TWO_BITS)))
            for bit in range(EXACT_BELOW.bit_length() - 1, _TOP_BIT)
        ),
        else_=constant(2 ** (_TOP_BIT - PER_POWER_OF_TWO_BITS)),
    )
    return (value // width) * width


def width_of(bucket: int) -> int:
    if bucket < EXACT_BELOW:
        return 1
    return 1 << (bucket.bit_length() - 1 - PER_POWER_OF_TWO_BITS)


def ranked(histogram: Subquery) -> Select[Any]:
    """The buckets holding the ranks each percentile interpolates between, per team and
    clock, from a (team_id, bucket, first_response, resolution) histogram, with each
    clock's count in the bucket, running count up to it, and total."""
    team, bucket = histogram.c.team_id, histogram.c.bucket
    summed = (
        select(
            team.label("team_id"),
            bucket.label("bucket"),
            *(func.sum(histogram.c[clock]).label(clock) for clock in CLOCKS),
        )
        .group_by(team, bucket)
        .subquery()
    )
    # Cast: PostgreSQL sums bigints to numeric, whose division is not integer division.
    columns: list[ColumnElement[Any]] = []
    for clock in CLOCKS:
        n = summed.c[clock]
        columns += [
            cast(n, BigInteger).label(f"{clock}_n"),
            cast(
                func.sum(n).over(partition_by=summed.c.team_id, order_by=summed.c.bucket),
                BigInteger,
            ).label(f"{clock}_upto"),
            cast(func.sum(n).over(partition_by=summed.c.team_id), BigInteger).label(
                f"{clock}_total"
            ),
        ]
    running = select(summed.c.team_id, summed.c.bucket, *columns).subquery()
    holds = []
    for clock in CLOCKS:
        n, upto, total = (running.c[f"{clock}_{part}"] for part in ("n", "upto", "total"))
        for percent in PERCENTS:
            for step in (0, 1):
                rank = 1 + (percent * (total - 1)) // 100 + step
                holds.append(and_(upto - n < rank, upto >= rank))
    return select(*running.c).where(or_(*holds))


def percentiles(
    rows: Iterable[Any],
) -> dict[str, dict[int, tuple[timedelta, timedelta]]]:
    """(median, p90) per clock and team from the rows `ranked` selects."""
    buckets: dict[tuple[str, int], list[tuple[int, int, int]]] = defaultdict(list)
    totals: dict[tuple[str, int], int] = {}
    for row in rows:
        team_id, bucket, *figures = row
        for i, clock in enumerate(CLOCKS):
            n, upto, total = (int(f) for f in figures[3 * i : 3 * i + 3])
            if n:
                buckets[(clock, team_id)].append((int(bucket), n, upto))
                totals[(clock, team_id)] = total
    found: dict[str, dict[int, tuple[timedelta, timedelta]]] = {clock: {} for clock in CLOCKS}
    for (clock, team_id), held in buckets.items():
        total = totals[(clock, team_id)]
        found[clock][team_id] = (_percentile(held, total, 50), _percentile(held, total, 90))
    return found


def _percentile(buckets: list[tuple[int, int, int]], total: int, percent: int) -> timedelta:
    low = 1 + percent * (total - 1) // 100
    remainder = percent * (total - 1) % 100
    value = _value_at(buckets, low)
    if remainder and low < total:
        value += (_value_at(buckets, low + 1) - value) * remainder / 100
    return timedelta(seconds=value)


def _value_at(buckets: list[tuple[int, int, int]], rank: int) -> float:
    bucket, n, upto = next(b for b in buckets if b[2] - b[1] < rank <= b[2])
    width = width_of(bucket)
    if width == 1:
        return bucket
    return bucket + width * (rank - (upto - n) - 0.5) / n
