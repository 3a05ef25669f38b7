"""Business hours, and deadlines measured in working time.

Everything is computed on UTC instants. Local wall-clock time only decides
*which* instants are working, so a DST day gets exactly as many real working
hours as it really has: the fall-back hour counts twice, the spring-forward gap
not at all. Pure: stdlib plus the `holidays` package.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

__all__ = [
    "BusinessCalendar",
    "HolidayRule",
    "Span",
    "business_time_between",
    "due_at",
    "parse_hours",
]

_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_SECOND = timedelta(seconds=1)
# A calendar whose holidays swallow every working day would otherwise search forever.
_SEARCH_LIMIT = timedelta(days=3653)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Internally instants are naive datetimes meaning UTC: arithmetic on them is
# plain and cheap, and nothing can accidentally do wall-clock maths on them.
_Interval = tuple[datetime, datetime]
_Segment = tuple[datetime, datetime, timedelta]


@dataclass(frozen=True)
class Span:
    """Working hours within one local day: [start, end). end=None means 24:00."""

    start: time
    end: time | None

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or (self.end is not None and self.end.tzinfo is not None):
            raise ValueError(f"span times must be wall-clock times without a zone: {self}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"span must end after it starts: {_format_span(self)}")

    @property
    def length(self) -> timedelta:
        """Nominal length on a day without a DST change."""
        end = _DAY if self.end is None else _time_offset(self.end)
        return end - _time_offset(self.start)


@dataclass(frozen=True)
class HolidayRule:
    """Which local dates are closed: a country's public holidays and/or explicit dates."""

    country: str | None = None
    subdivision: str | None = None
    dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Accept any iterable of dates but keep the rule hashable (it keys caches).
        object.__setattr__(self, "dates", frozenset(self.dates))
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError(f"holiday subdivision {self.subdivision!r} needs a country")
            return
        import holidays as holidays_lib  # see _country_holidays

        try:
            holidays_lib.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError as exc:
            raise ValueError(f"unknown holiday calendar: {exc}") from None

    def is_holiday(self, day: date) -> bool:
        if day in self.dates:
            return True
        if self.country is None:
            return False
        return day in _country_holidays(self.country, self.subdivision, day.year)


@lru_cache(maxsize=256)
def _country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # One frozen set per year rather than a shared HolidayBase: the latter grows
    # itself on lookup, which is neither thread-safe nor deterministic.
    # Imported here, when a holiday is first looked up: with dateutil it is tens of
    # ms of import that `serve` need not do before it answers (start-up, issue 14).
    import holidays as holidays_lib

    found = holidays_lib.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(d for d in found if d.year == year)


@dataclass(frozen=True)
class BusinessCalendar:
    """When work happens: weekly hours in a time zone, minus holidays (or 24x7)."""

    timezone: ZoneInfo
    week: tuple[tuple[Span, ...], ...]
    holidays: HolidayRule = HolidayRule()
    always_open: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.timezone, ZoneInfo):
            raise ValueError(f"timezone must be a ZoneInfo, got {self.timezone!r}")
        week = tuple(tuple(day) for day in self.week)
        if len(week) != 7:
            raise ValueError(f"week must have 7 entries (Monday..Sunday), got {len(week)}")
        for name, spans in zip(_DAY_NAMES, week, strict=True):
            for before, after in pairwise(spans):
                if before.end is None or before.end > after.start or before.start >= after.start:
                    raise ValueError(
                        f"{name}: spans must be sorted and not overlap: "
                        f"{_format_span(before)}, {_format_span(after)}"
                    )
        object.__setattr__(self, "week", week)

    @classmethod
    def twenty_four_seven(cls, timezone: str = "UTC") -> BusinessCalendar:
        full_day = (Span(time(0), None),)
        return cls(ZoneInfo(timezone), (full_day,) * 7, always_open=True)

    @classmethod
    def office_hours(cls, timezone: str = "UTC") -> BusinessCalendar:
        """Monday to Friday, 09:00-17:00: working hours when nobody named any."""
        return cls(ZoneInfo(timezone), parse_hours({"mon-fri": "09:00-17:00"}))

    def in_timezone(self, timezone: ZoneInfo) -> BusinessCalendar:
        """The same hours and holidays, kept by someone living in `timezone`."""
        if self.always_open or timezone == self.timezone:
            return self
        return BusinessCalendar(timezone, self.week, self.holidays)

    def is_working(self, at: datetime) -> bool:
        _require_aware(at, "at")
        if self.always_open:
            return True
        local = at.astimezone(self.timezone)
        if self.holidays.is_holiday(local.date()):
            return False
        wall = local.time()
        return any(
            span.start <= wall and (span.end is None or wall < span.end)
            for span in self.week[local.weekday()]
        )

    def next_working_instant(self, at: datetime) -> datetime:
        """`at` if it is working, else the start of the next working interval (UTC)."""
        start = _to_utc(at, "at")
        if self.is_working(at):
            return _aware(start)
        _require_some_hours(self)
        for day_pieces in _clipped_days(self, start, start + _SEARCH_LIMIT + 2 * _DAY):
            if day_pieces:
                return _aware(day_pieces[0][0])
        raise ValueError(f"no working time within ten years after {at.isoformat()}")

    def working_intervals(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """Working time in [start, end) as merged, UTC-aware, clipped intervals."""
        lo, hi = _to_utc(start, "start"), _to_utc(end, "end")
        return self._merged(lo, hi)

    def _merged(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        if self.always_open:
            if start < end:
                yield _aware(start), _aware(end)
            return
        pending: _Interval | None = None
        for day_pieces in _clipped_days(self, start, end):
            for lo, hi in day_pieces:
                if pending is not None and pending[1] == lo:
                    pending = (pending[0], hi)
                    continue
                if pending is not None:
                    yield _aware(pending[0]), _aware(pending[1])
                pending = (lo, hi)
        if pending is not None:
            yield _aware(pending[0]), _aware(pending[1])

    def working_day_length(self) -> timedelta:
        """The usual length of a working day: the most common non-zero daily total."""
        if self.always_open:
            return _DAY
        totals = Counter(
            total
            for total in (sum((s.length for s in spans), timedelta()) for spans in self.week)
            if total
        )
        if not totals:
            return timedelta()
        return max(totals, key=lambda total: (totals[total], total))


def due_at(start: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The earliest instant by which `duration` of business time has elapsed since `start`."""
    origin = _to_utc(start, "start")
    if duration < timedelta():
        raise ValueError(f"duration must not be negative, got {duration}")
    if not duration:
        return _aware(origin)
    if calendar.always_open:
        return _aware(origin + duration)
    _require_some_hours(calendar)
    remaining = duration
    idle_days = 0
    # The limit bounds a stretch *without* working time, not the duration itself,
    # so long durations still work while a calendar of only holidays still fails.
    for day_pieces in _clipped_days(calendar, origin, None):
        if not day_pieces:
            idle_days += 1
            if idle_days > _SEARCH_LIMIT.days:
                raise ValueError(f"no working time within ten years before {duration} elapsed")
            continue
        idle_days = 0
        for lo, hi in day_pieces:
            # Reaching the target exactly at a piece end returns that end, not the
            # start of the next piece: it is the earliest instant with that total.
            if remaining <= hi - lo:
                return _aware(lo + remaining)
            remaining -= hi - lo
    raise AssertionError("unreachable: the day iteration is unbounded")  # pragma: no cover


def business_time_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time in [a, b); negative when b is before a."""
    lo, hi = _to_utc(a, "a"), _to_utc(b, "b")
    if hi < lo:
        return -business_time_between(b, a, calendar)
    if calendar.always_open:
        return hi - lo
    total = timedelta()
    for day_pieces in _clipped_days(calendar, lo, hi):
        for piece_lo, piece_hi in day_pieces:
            total += piece_hi - piece_lo
    return total


def parse_hours(spec: Mapping[str, str]) -> tuple[tuple[Span, ...], ...]:
    """`{"mon-fri": "09:00-12:00, 13:00-17:00"}` -> spans for Monday..Sunday."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"hours must be a mapping of days to spans, got {spec!r}")
    week: list[tuple[Span, ...]] = [()] * 7
    given_by: dict[int, str] = {}
    for key, value in spec.items():
        for day in _parse_days(key):
            if day in given_by:
                raise ValueError(
                    f"{_DAY_NAMES[day]!r} is given twice: in {given_by[day]!r} and {key!r}"
                )
            given_by[day] = key
            week[day] = _parse_spans(key, value)
    return tuple(week)


def _parse_days(key: object) -> range:
    if not isinstance(key, str):
        raise ValueError(
            f"hours key {key!r} must be a day name like 'mon' or a range like 'mon-fri'"
        )
    names = [part.strip().lower() for part in key.split("-")]
    if len(names) > 2 or any(name not in _DAY_NAMES for name in names):
        raise ValueError(
            f"hours key {key!r} must be a day ({', '.join(_DAY_NAMES)}) or a range like 'mon-fri'"
        )
    first, last = _DAY_NAMES.index(names[0]), _DAY_NAMES.index(names[-1])
    if first > last:
        raise ValueError(f"hours key {key!r}: a day range must not wrap past Sunday")
    return range(first, last + 1)


def _parse_spans(key: str, value: object) -> tuple[Span, ...]:
    if not isinstance(value, str):
        raise ValueError(f"hours for {key!r} must be text like '09:00-17:00', got {value!r}")
    bounds: list[tuple[int, int]] = []
    for part in value.split(","):
        ends = [end.strip() for end in part.split("-")]
        if len(ends) != 2:
            raise ValueError(
                f"hours for {key!r}: {part.strip()!r} in {value!r} is not a span like '09:00-17:00'"
            )
        start, end = _parse_clock(key, value, ends[0]), _parse_clock(key, value, ends[1])
        if start == 24 * 60:
            raise ValueError(f"hours for {key!r}: a span cannot start at 24:00 in {value!r}")
        if end <= start:
            raise ValueError(f"hours for {key!r}: {part.strip()!r} must end after it starts")
        bounds.append((start, end))
    bounds.sort()
    for (start_a, end_a), (start_b, end_b) in pairwise(bounds):
        if start_b < end_a:
            raise ValueError(
                f"hours for {key!r}: spans {_clock(start_a)}-{_clock(end_a)} and "
                f"{_clock(start_b)}-{_clock(end_b)} overlap in {value!r}"
            )
    return tuple(
        Span(time(start // 60, start % 60), None if end == 24 * 60 else time(end // 60, end % 60))
        for start, end in bounds
    )


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def _parse_clock(key: str, value: str, text: str) -> int:
    match = _CLOCK.fullmatch(text)
    minutes = -1
    if match:
        hour, minute = int(match[1]), int(match[2])
        if minute < 60 and (hour < 24 or (hour == 24 and minute == 0)):
            minutes = hour * 60 + minute
    if minutes < 0:
        raise ValueError(f"hours for {key!r}: {text!r} in {value!r} is not a time like '09:30'")
    return minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _format_span(span: Span) -> str:
    end = "24:00" if span.end is None else span.end.isoformat()
    return f"{span.start.isoformat()}-{end}"


def _time_offset(clock: time) -> timedelta:
    return timedelta(
        hours=clock.hour, minutes=clock.minute, seconds=clock.second, microseconds=clock.microsecond
    )


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")


def _to_utc(at: datetime, name: str) -> datetime:
    _require_aware(at, name)
    return at.astimezone(UTC).replace(tzinfo=None)


def _aware(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC)


def _require_some_hours(calendar: BusinessCalendar) -> None:
    if not calendar.always_open and not any(calendar.week):
        raise ValueError("the calendar has no working hours on any day of the week")


def _clipped_days(
    calendar: BusinessCalendar, start: datetime, end: datetime | None
) -> Iterator[tuple[_Interval, ...]]:
    """Per UTC day from `start`'s, the working pieces clipped to [start, end).

    Pieces are not merged across UTC midnight; callers that care merge. With
    no `end` the days never run out, so the caller must stop.
    """
    day = start.date()
    while end is None or datetime.combine(day, time()) < end:
        pieces = _utc_day(calendar, day)
        if pieces and (pieces[0][0] < start or (end is not None and pieces[-1][1] > end)):
            clipped = ((max(lo, start), hi if end is None else min(hi, end)) for lo, hi in pieces)
            pieces = tuple((lo, hi) for lo, hi in clipped if lo < hi)
        yield pieces
        day += _DAY


@lru_cache(maxsize=8192)
def _utc_day(calendar: BusinessCalendar, day: date) -> tuple[_Interval, ...]:
    """Working pieces within one UTC day, sorted and merged."""
    day_start = datetime.combine(day, time())
    day_end = day_start + _DAY
    if calendar.always_open:
        return ((day_start, day_end),)
    pieces: list[_Interval] = []
    # Offsets are under 24h, so only these local dates can overlap this UTC day.
    for local_day in (day - _DAY, day, day + _DAY):
        spans = calendar.week[local_day.weekday()]
        if not spans or calendar.holidays.is_holiday(local_day):
            continue
        for lo, hi in _local_day_pieces(calendar.timezone, spans, local_day):
            lo, hi = max(lo, day_start), min(hi, day_end)
            if lo < hi:
                pieces.append((lo, hi))
    return _merge(pieces)


@lru_cache(maxsize=8192)
def _local_day_pieces(
    tz: ZoneInfo, spans: tuple[Span, ...], local_day: date
) -> tuple[_Interval, ...]:
    """UTC instants whose local time on `local_day` falls within `spans`.

    Within a constant-offset segment, local time is UTC plus the offset, so each
    span maps to one UTC interval per segment; intersecting with the segment
    makes gaps vanish and repeated hours appear twice, both exactly.
    """
    segments = (
        _day_segments(tz, local_day - _DAY)
        + _day_segments(tz, local_day)
        + _day_segments(tz, local_day + _DAY)
    )
    midnight = datetime.combine(local_day, time())
    pieces: list[_Interval] = []
    for span in spans:
        wall_start = datetime.combine(local_day, span.start)
        wall_end = midnight + _DAY if span.end is None else datetime.combine(local_day, span.end)
        for seg_start, seg_end, offset in segments:
            lo, hi = max(seg_start, wall_start - offset), min(seg_end, wall_end - offset)
            if lo < hi:
                pieces.append((lo, hi))
    return _merge(pieces)


@lru_cache(maxsize=4096)
def _day_segments(tz: ZoneInfo, day: date) -> tuple[_Segment, ...]:
    """One UTC day cut into constant-offset segments (start, end, utcoffset).

    zoneinfo exposes no transition list, so sample hourly and bisect to the
    second (tzdata transitions fall on whole seconds). Two transitions within
    one hour that cancel out would be missed; no real zone has them.
    """
    day_start = datetime.combine(day, time())
    day_end = day_start + _DAY
    segments: list[_Segment] = []
    seg_start, seg_offset = day_start, _utc_offset(tz, day_start)
    probe_lo = day_start
    for hour in range(1, 25):
        probe_hi = day_start + hour * _HOUR
        offset_hi = _utc_offset(tz, probe_hi)
        while offset_hi != seg_offset:
            change = _first_change(tz, probe_lo, probe_hi, seg_offset)
            if change >= day_end:
                break
            segments.append((seg_start, change, seg_offset))
            seg_start, seg_offset, probe_lo = change, _utc_offset(tz, change), change
        probe_lo = probe_hi
    segments.append((seg_start, day_end, seg_offset))
    return tuple(segments)


def _first_change(tz: ZoneInfo, lo: datetime, hi: datetime, offset: timedelta) -> datetime:
    """The first whole second in (lo, hi] whose offset differs from `offset` (lo's)."""
    lo_s, hi_s = 0, int((hi - lo) // _SECOND)
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _utc_offset(tz, lo + mid * _SECOND) == offset:
            lo_s = mid
        else:
            hi_s = mid
    return lo + hi_s * _SECOND


def _utc_offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    if offset is None:  # pragma: no cover - ZoneInfo always knows its offset
        raise AssertionError(f"{tz} has no UTC offset at {instant}")
    return offset


def _merge(pieces: list[_Interval]) -> tuple[_Interval, ...]:
    merged: list[_Interval] = []
    for lo, hi in sorted(pieces):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)
