"""Medians and p90s from a histogram of business seconds, so a year's percentiles
are read from the weekly rollup instead of sorting every request.

Buckets: exact below 32 s; above, 16 buckets per power of two, so a bucket
[low, low + width) has width <= low / 16. A rank's value is placed inside its
bucket as if the bucket's values were evenly spread, then neighbouring ranks are
interpolated like percentile_cont. The true value lies in the same bucket, so the
error is under one bucket width: **under 1/16 (6.25 %) of the value**, usually a
fraction of that (an hour reads as 3,648 s at worst, a day as 8.75 h, not 9 h).
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
    """The buckets holding the ranks each percentile interpolates between, per team,
    from a (team_id, bucket, n) histogram; with the running count up to each."""
    team, bucket = histogram.c.team_id, histogram.c.bucket
    summed = (
        select(team.label("team_id"), bucket.label("bucket"), func.sum(histogram.c.n).label("n"))
        .group_by(team, bucket)
        .subquery()
    )
    # Cast: PostgreSQL sums bigints to numeric, whose division is not integer division.
    running = select(
        summed.c.team_id,
        summed.c.bucket,
        cast(summed.c.n, BigInteger).label("n"),
        cast(
            func.sum(summed.c.n).over(partition_by=summed.c.team_id, order_by=summed.c.bucket),
            BigInteger,
        ).label("upto"),
        cast(func.sum(summed.c.n).over(partition_by=summed.c.team_id), BigInteger).label("total"),
    ).subquery()
    ranks = [
        1 + (percent * (running.c.total - 1)) // 100 + step
        for percent in PERCENTS
        for step in (0, 1)
    ]
    holds = [and_(running.c.upto - running.c.n < rank, running.c.upto >= rank) for rank in ranks]
    return select(
        running.c.team_id, running.c.bucket, running.c.n, running.c.upto, running.c.total
    ).where(or_(*holds))


def percentiles(
    rows: Iterable[Any],
) -> dict[int, tuple[timedelta | None, timedelta | None]]:
    """(median, p90) per team from the rows `ranked` selects."""
    buckets: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    totals: dict[int, int] = {}
    for team_id, bucket, n, upto, total in rows:
        buckets[team_id].append((int(bucket), int(n), int(upto)))
        totals[team_id] = int(total)
    found: dict[int, tuple[timedelta | None, timedelta | None]] = {}
    for team_id, held in buckets.items():
        median, p90 = (_percentile(held, totals[team_id], percent) for percent in PERCENTS)
        found[team_id] = (median, p90)
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
