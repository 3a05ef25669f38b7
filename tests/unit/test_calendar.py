"""Business-hours calendar: worked examples, and properties against a minute oracle.

The oracle deliberately shares nothing with the implementation's interval code:
it steps through UTC minutes, converts each with zoneinfo and looks the local
minute up in a per-weekday table, so DST handling is checked independently.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.calendar import (
    BusinessCalendar,
    HolidayRule,
    Span,
    business_time_between,
    due_at,
    parse_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=BERLIN)


def office(
    hours: str = "09:00-17:00", country: str | None = None, dates: frozenset[date] = frozenset()
) -> BusinessCalendar:
    return BusinessCalendar(
        BERLIN, parse_hours({"mon-fri": hours}), HolidayRule(country, None, dates)
    )


def sunday_night(tz: ZoneInfo, hours: str = "01:00-04:00") -> BusinessCalendar:
    return BusinessCalendar(tz, parse_hours({"sun": hours}))


# --- worked examples -------------------------------------------------------------------------


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    due = due_at(berlin(2026, 3, 27, 16, 30), HOUR, office())
    assert due == berlin(2026, 3, 30, 9, 30)
    assert due.tzinfo is UTC


def test_target_reached_exactly_at_closing_returns_closing() -> None:
    assert due_at(berlin(2026, 3, 27, 9), 8 * HOUR, office()) == berlin(2026, 3, 27, 17)


def test_zero_duration_returns_start_even_outside_hours() -> None:
    saturday = berlin(2026, 3, 28, 3, 15)
    due = due_at(saturday, timedelta(), office())
    assert due == saturday
    assert due.tzinfo is UTC


def test_start_outside_hours() -> None:
    cal = office()
    assert due_at(berlin(2026, 3, 28, 10), HOUR, cal) == berlin(2026, 3, 30, 10)
    assert due_at(berlin(2026, 3, 30, 7), 30 * MINUTE, cal) == berlin(2026, 3, 30, 9, 30)
    assert due_at(berlin(2026, 3, 30, 17), MINUTE, cal) == berlin(2026, 3, 31, 9, 1)


def test_holidays_are_skipped() -> None:
    wednesday = berlin(2026, 12, 23, 16)
    # 24th is an explicit closure; 25th and 26th are German public holidays.
    closed = office(country="DE", dates=frozenset({date(2026, 12, 24)}))
    assert due_at(wednesday, 2 * HOUR, closed) == berlin(2026, 12, 28, 10)
    assert due_at(wednesday, 2 * HOUR, office(country="DE")) == berlin(2026, 12, 24, 10)
    assert business_time_between(wednesday, berlin(2026, 12, 29), closed) == 9 * HOUR
    assert not closed.is_working(berlin(2026, 12, 25, 10))


def test_holiday_rule_subdivision_and_dates() -> None:
    epiphany = date(2026, 1, 6)
    assert HolidayRule("DE", "BY").is_holiday(epiphany)
    assert not HolidayRule("DE").is_holiday(epiphany)
    assert HolidayRule(dates=frozenset({epiphany})).is_holiday(epiphany)
    assert not HolidayRule().is_holiday(date(2026, 12, 25))


def test_holiday_is_judged_by_local_date() -> None:
    # 23:30 UTC on Christmas Eve is already Christmas Day in Berlin.
    cal = BusinessCalendar(BERLIN, parse_hours({"fri": "00:00-24:00"}), HolidayRule("DE"))
    assert not cal.is_working(datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    plain = BusinessCalendar(BERLIN, parse_hours({"fri": "00:00-24:00"}))
    assert plain.is_working(datetime(2026, 12, 24, 23, 30, tzinfo=UTC))


def test_lunch_break() -> None:
    cal = office(hours="09:00-12:00, 13:00-17:00")
    assert due_at(berlin(2026, 3, 30, 11, 30), HOUR, cal) == berlin(2026, 3, 30, 13, 30)
    assert due_at(berlin(2026, 3, 30, 9), 3 * HOUR, cal) == berlin(2026, 3, 30, 12)
    monday = (berlin(2026, 3, 30, 8), berlin(2026, 3, 30, 18))
    assert business_time_between(*monday, cal) == 7 * HOUR
    assert list(cal.working_intervals(*monday)) == [
        (berlin(2026, 3, 30, 9), berlin(2026, 3, 30, 12)),
        (berlin(2026, 3, 30, 13), berlin(2026, 3, 30, 17)),
    ]
    assert not cal.is_working(berlin(2026, 3, 30, 12, 30))
    assert cal.next_working_instant(berlin(2026, 3, 30, 12, 30)) == berlin(2026, 3, 30, 13)


def test_twenty_four_seven_ignores_everything() -> None:
    cal = BusinessCalendar.twenty_four_seven("Europe/Berlin")
    christmas = berlin(2026, 12, 25, 3)
    assert cal.is_working(christmas)
    assert due_at(christmas, 30 * HOUR, cal) == christmas + 30 * HOUR
    # The fall-back day really has 25 hours.
    assert business_time_between(berlin(2026, 10, 25), berlin(2026, 10, 26), cal) == 25 * HOUR
    assert cal.working_day_length() == 24 * HOUR
    assert list(cal.working_intervals(christmas, christmas + HOUR)) == [
        (christmas, christmas + HOUR)
    ]
    assert cal.next_working_instant(christmas) == christmas


def test_empty_window_has_no_intervals() -> None:
    cal = office()
    inside = berlin(2026, 3, 30, 10)
    assert list(cal.working_intervals(inside, inside)) == []
    assert list(cal.working_intervals(inside, inside - HOUR)) == []
    assert business_time_between(inside, inside, cal) == timedelta()


def test_full_days_merge_across_midnight() -> None:
    cal = BusinessCalendar(UTC_ZONE, parse_hours({"mon-sun": "00:00-24:00"}))
    a = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert list(cal.working_intervals(a, a + 5 * timedelta(days=1))) == [
        (a, a + 5 * timedelta(days=1))
    ]


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (BERLIN, date(2026, 3, 29), 2 * HOUR),  # spring forward: 02:00-03:00 does not exist
        (BERLIN, date(2026, 10, 25), 4 * HOUR),  # fall back: 02:00-03:00 happens twice
        (NEW_YORK, date(2026, 3, 8), 2 * HOUR),
        (NEW_YORK, date(2026, 11, 1), 4 * HOUR),
        (BERLIN, date(2026, 3, 22), 3 * HOUR),
    ],
)
def test_dst_days_have_their_real_length(tz: ZoneInfo, day: date, expected: timedelta) -> None:
    cal = sunday_night(tz)
    a = datetime.combine(day, time(), tz)
    b = datetime.combine(day + timedelta(days=1), time(), tz)
    assert business_time_between(a, b, cal) == expected
    assert business_time_between(a, b, BusinessCalendar.twenty_four_seven(str(tz))) == (
        b.astimezone(UTC) - a.astimezone(UTC)
    )


def test_spring_forward_due_at_jumps_the_gap() -> None:
    cal = sunday_night(BERLIN)
    start = berlin(2026, 3, 29, 0)
    assert due_at(start, 90 * MINUTE, cal) == berlin(2026, 3, 29, 3, 30)
    assert due_at(start, 2 * HOUR, cal) == berlin(2026, 3, 29, 4)


def test_fall_back_counts_the_repeated_hour_twice() -> None:
    cal = sunday_night(BERLIN)
    start = berlin(2026, 10, 25, 0)
    assert due_at(start, 3 * HOUR, cal) == datetime(2026, 10, 25, 2, tzinfo=UTC)  # 03:00 CET
    assert due_at(start, 4 * HOUR, cal) == datetime(2026, 10, 25, 3, tzinfo=UTC)  # 04:00 CET
    repeated = sunday_night(BERLIN, "02:00-02:30")
    intervals = list(repeated.working_intervals(start, berlin(2026, 10, 26)))
    assert intervals == [
        (datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ]


def test_span_starting_in_the_gap_starts_at_the_transition() -> None:
    cal = sunday_night(BERLIN, "02:30-04:00")
    intervals = list(cal.working_intervals(berlin(2026, 3, 29), berlin(2026, 3, 30)))
    assert intervals == [(berlin(2026, 3, 29, 3), berlin(2026, 3, 29, 4))]
    assert cal.next_working_instant(berlin(2026, 3, 28, 12)) == berlin(2026, 3, 29, 3)


def test_new_york_spring_forward_due_at() -> None:
    cal = sunday_night(NEW_YORK)
    start = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    assert due_at(start, 90 * MINUTE, cal) == datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)


def test_business_time_between_negative_order() -> None:
    cal = office()
    a, b = berlin(2026, 3, 27, 16), berlin(2026, 3, 30, 10)
    assert business_time_between(a, b, cal) == 2 * HOUR
    assert business_time_between(b, a, cal) == -2 * HOUR
    assert business_time_between(a, a, cal) == timedelta()


def test_sub_minute_precision() -> None:
    cal = office()
    start = berlin(2026, 3, 30, 16, 59, 59, 999_000)
    assert due_at(start, timedelta(microseconds=1500), cal) == berlin(2026, 3, 31, 9, 0, 0, 500)
    assert business_time_between(start, berlin(2026, 3, 31, 9, 0, 1), cal) == timedelta(
        seconds=1, microseconds=1000
    )
    assert cal.is_working(berlin(2026, 3, 30, 16, 59, 59, 999_999))
    assert not cal.is_working(berlin(2026, 3, 30, 17))


def test_next_working_instant() -> None:
    cal = office()
    working = berlin(2026, 3, 30, 10)
    assert cal.next_working_instant(working) == working
    assert cal.next_working_instant(working).tzinfo is UTC
    assert cal.next_working_instant(berlin(2026, 3, 28, 10)) == berlin(2026, 3, 30, 9)
    assert cal.next_working_instant(berlin(2026, 3, 30, 17)) == berlin(2026, 3, 31, 9)


def test_office_hours_and_the_same_hours_kept_in_another_zone() -> None:
    saturday_night = berlin(2026, 11, 28, 3)
    assert BusinessCalendar.office_hours("Europe/Berlin").next_working_instant(
        saturday_night
    ) == berlin(2026, 11, 30, 9)
    # Berlin's hours and holidays, kept by someone in New York: 09:00 there.
    christmas = office(dates=frozenset({date(2026, 12, 24)})).in_timezone(NEW_YORK)
    assert christmas.next_working_instant(berlin(2026, 12, 23, 23)) == datetime(
        2026, 12, 25, 9, tzinfo=NEW_YORK
    )
    always = BusinessCalendar.twenty_four_seven()
    assert always.in_timezone(NEW_YORK) is always
    assert office().in_timezone(BERLIN) == office()


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ({"mon-fri": "09:00-17:00"}, 8 * HOUR),
        ({"mon-thu": "09:00-17:00", "fri": "09:00-15:00"}, 8 * HOUR),
        ({"mon-tue": "09:00-15:00", "wed-thu": "09:00-17:00"}, 8 * HOUR),  # tie -> longest
        ({"mon-fri": "09:00-12:00, 13:00-17:30"}, 7 * HOUR + 30 * MINUTE),
        ({"sat": "10:00-14:00"}, 4 * HOUR),
        ({}, timedelta()),
    ],
)
def test_working_day_length(hours: dict[str, str], expected: timedelta) -> None:
    assert BusinessCalendar(BERLIN, parse_hours(hours)).working_day_length() == expected


def test_no_working_time_raises() -> None:
    closed = BusinessCalendar(BERLIN, parse_hours({}))
    with pytest.raises(ValueError, match="no working hours"):
        due_at(berlin(2026, 3, 30), HOUR, closed)
    with pytest.raises(ValueError, match="no working hours"):
        closed.next_working_instant(berlin(2026, 3, 30))
    assert business_time_between(berlin(2026, 3, 30), berlin(2026, 4, 30), closed) == timedelta()
    assert list(closed.working_intervals(berlin(2026, 3, 30), berlin(2026, 4, 30))) == []


def test_calendar_of_only_holidays_gives_up() -> None:
    # Mondays only, and every Monday for the next eleven years is closed.
    mondays = frozenset(date(2026, 3, 30) + timedelta(weeks=n) for n in range(52 * 11))
    cal = BusinessCalendar(BERLIN, parse_hours({"mon": "09:00-17:00"}), HolidayRule(dates=mondays))
    with pytest.raises(ValueError, match="ten years"):
        due_at(berlin(2026, 3, 28), HOUR, cal)
    with pytest.raises(ValueError, match="ten years"):
        cal.next_working_instant(berlin(2026, 3, 28))


def test_long_durations_are_not_limited_by_the_search_window() -> None:
    cal = BusinessCalendar(UTC_ZONE, parse_hours({"mon-sun": "00:00-24:00"}))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert due_at(start, timedelta(days=4000), cal) == start + timedelta(days=4000)


def test_naive_datetimes_are_rejected() -> None:
    cal = office()
    naive = datetime(2026, 3, 30, 10)
    aware = berlin(2026, 3, 30, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(naive, HOUR, cal)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(naive, aware, cal)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(aware, naive, cal)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.is_working(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.next_working_instant(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.working_intervals(aware, naive)


def test_negative_duration_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        due_at(berlin(2026, 3, 30, 10), -HOUR, office())


def test_calendar_validation() -> None:
    with pytest.raises(ValueError, match="7 entries"):
        BusinessCalendar(BERLIN, ((),) * 6)
    overlapping = (Span(time(9), time(12)), Span(time(11), time(13)))
    with pytest.raises(ValueError, match="overlap"):
        BusinessCalendar(BERLIN, (overlapping,) + ((),) * 6)
    with pytest.raises(ValueError, match="end after"):
        Span(time(12), time(9))
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        HolidayRule("XX")
    with pytest.raises(ValueError, match="needs a country"):
        HolidayRule(subdivision="BY")


def test_parse_hours() -> None:
    week = parse_hours({"MON-Fri": " 13:00-17:00 ,09:00-12:00", "sat": "22:00-24:00"})
    weekday = (Span(time(9), time(12)), Span(time(13), time(17)))
    assert week == (weekday,) * 5 + ((Span(time(22), None),), ())
    assert parse_hours({}) == ((),) * 7
    assert parse_hours({"sun": "00:00-24:00"})[6] == (Span(time(0), None),)
    assert parse_hours({"mon": "9:05-10:00, 10:00-11:00"})[0] == (
        Span(time(9, 5), time(10)),
        Span(time(10), time(11)),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"mon": "09:00-12:00, 11:00-13:00"}, r"'mon'.*overlap"),
        ({"mon": "09:00-17:00, 10:00-11:00"}, r"'mon'.*overlap"),
        ({"mon": "9-17"}, r"'mon'.*'9' .*not a time"),
        ({"mon": "09:00"}, r"'mon'.*not a span"),
        ({"mon": "09:00-10:00-11:00"}, r"'mon'.*not a span"),
        ({"mon": "09:00-17:00,"}, r"'mon'.*not a span"),
        ({"mon": ""}, r"'mon'.*not a span"),
        ({"mon": "09:60-10:00"}, r"'09:60'.*not a time"),
        ({"mon": "23:00-25:00"}, r"'25:00'.*not a time"),
        ({"mon": "24:00-24:00"}, r"cannot start at 24:00"),
        ({"mon": "17:00-09:00"}, r"'mon'.*'17:00-09:00' must end after it starts"),
        ({"mon": "09:00-09:00"}, r"must end after it starts"),
        ({"mon-fri": "09:00-17:00", "wed": "10:00-11:00"}, r"'wed' is given twice.*'mon-fri'"),
        ({"mon": "09:00-17:00", "MON": "10:00-11:00"}, r"given twice"),
        ({"fri-mon": "09:00-17:00"}, r"'fri-mon'.*wrap"),
        ({"funday": "09:00-17:00"}, r"'funday'"),
        ({"mon-tue-wed": "09:00-17:00"}, r"'mon-tue-wed'"),
        ({"mon": 9}, r"'mon'.*must be text"),
        ({7: "09:00-17:00"}, r"hours key 7"),
    ],
)
def test_parse_hours_errors(spec: dict[object, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(spec)  # type: ignore[arg-type]


# --- the oracle --------------------------------------------------------------------------------

TIMEZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
# DST transitions (UTC) in those zones, where the interesting bugs live.
TRANSITIONS = [
    ("Europe/Berlin", datetime(2025, 3, 30, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2025, 10, 26, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 3, 29, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 10, 25, 1, tzinfo=UTC)),
    ("America/New_York", datetime(2025, 3, 9, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2025, 11, 2, 6, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 8, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),  # 02:00 -> 01:30
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),  # 02:00 -> 02:30
    ("Europe/Berlin", datetime(2026, 12, 24, tzinfo=UTC)),  # a run of holidays
]
# Spans around the transition hours, which random spans rarely hit.
INTERESTING_SPANS = [(60, 240), (120, 150), (150, 240), (90, 180), (0, 1440), (540, 1020)]
ORACLE_LIMIT_MINUTES = 60 * 24 * 60


@dataclass(frozen=True)
class Model:
    timezone: str
    week: tuple[tuple[tuple[int, int], ...], ...]  # minute-of-day spans per weekday
    dates: frozenset[date]
    country: str | None
    always_open: bool

    def calendar(self) -> BusinessCalendar:
        def span(start: int, end: int) -> Span:
            return Span(time(*divmod(start, 60)), None if end == 1440 else time(*divmod(end, 60)))

        return BusinessCalendar(
            ZoneInfo(self.timezone),
            tuple(tuple(span(*bounds) for bounds in day) for day in self.week),
            HolidayRule(self.country, dates=self.dates),
            self.always_open,
        )

    def weekly_minutes(self) -> int:
        if self.always_open:
            return 7 * 1440
        return sum(end - start for day in self.week for start, end in day)


@cache
def country_closures(country: str) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=range(2024, 2030)))


class Oracle:
    """Minute-by-minute truth: zoneinfo conversion plus table look-ups, nothing else."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.tz = ZoneInfo(model.timezone)
        self.open = [bytearray(1440) for _ in range(7)]
        for weekday, spans in enumerate(model.week):
            for start, end in spans:
                self.open[weekday][start:end] = b"\x01" * (end - start)
        self.closed = set(model.dates)
        if model.country:
            self.closed |= country_closures(model.country)

    def working(self, timestamp: int) -> bool:
        if self.model.always_open:
            return True
        local = datetime.fromtimestamp(timestamp, self.tz)
        if local.date() in self.closed:
            return False
        return bool(self.open[local.weekday()][local.hour * 60 + local.minute])

    def minutes_between(self, a: datetime, b: datetime) -> int:
        start = int(a.timestamp())
        return sum(self.working(t) for t in range(start, int(b.timestamp()), 60))

    def due(self, start: datetime, minutes: int) -> datetime:
        t = int(start.timestamp())
        for _ in range(ORACLE_LIMIT_MINUTES):
            if self.working(t):
                minutes -= 1
                if minutes == 0:
                    return datetime.fromtimestamp(t + 60, UTC)
            t += 60
        raise AssertionError("oracle found no answer; the strategy is too sparse")

    def next_working(self, start: datetime) -> datetime:
        t = int(start.timestamp())
        while not self.working(t):
            t += 60
        return datetime.fromtimestamp(t, UTC)


def minute_spans() -> st.SearchStrategy[tuple[tuple[int, int], ...]]:
    random_spans = st.lists(st.integers(0, 1440), min_size=2, max_size=6, unique=True).map(
        lambda bounds: tuple(zip(sorted(bounds)[0::2], sorted(bounds)[1::2], strict=False))
    )
    return st.one_of(
        st.just(()),
        st.sampled_from(INTERESTING_SPANS).map(lambda span: (span,)),
        random_spans,
    )


def zoned_instants() -> st.SearchStrategy[tuple[str, datetime]]:
    """Mostly near a transition of the chosen zone; otherwise anywhere in 2025-2027."""
    near_transition = st.builds(
        lambda transition, minutes: (transition[0], transition[1] + minutes * MINUTE),
        st.sampled_from(TRANSITIONS),
        st.integers(-3 * 1440, 1440),
    )
    anywhere = st.tuples(
        st.sampled_from(TIMEZONES),
        st.integers(0, 3 * 365 * 1440).map(
            lambda minutes: datetime(2025, 1, 1, tzinfo=UTC) + minutes * MINUTE
        ),
    )
    return st.one_of(near_transition, anywhere)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Model, datetime]:
    timezone, start = draw(zoned_instants())
    week = tuple(draw(minute_spans()) for _ in range(7))
    if not any(week):
        week = (((540, 1020),), *week[1:])
    near = start.date()
    dates = draw(
        st.frozensets(st.integers(-2, 14).map(lambda n: near + timedelta(days=n)), max_size=5)
    )
    model = Model(
        timezone=timezone,
        week=week,
        dates=dates,
        country=draw(st.sampled_from([None, None, "DE", "US"])),
        always_open=draw(st.integers(0, 9)) == 0,
    )
    return model, start


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(0, 10 * 1440))
def test_business_time_between_matches_oracle(scenario: tuple[Model, datetime], span: int) -> None:
    model, a = scenario
    b = a + span * MINUTE
    cal = model.calendar()
    expected = Oracle(model).minutes_between(a, b) * MINUTE
    assert business_time_between(a, b, cal) == expected
    assert business_time_between(b, a, cal) == -expected
    intervals = list(cal.working_intervals(a, b))
    assert sum((hi - lo for lo, hi in intervals), timedelta()) == expected
    for lo, hi in intervals:
        assert a <= lo < hi <= b
        assert lo.tzinfo is UTC and hi.tzinfo is UTC
    for (_, end), (start, _) in pairwise(intervals):
        assert end < start, "intervals must be merged and ordered"


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_due_at_matches_oracle(scenario: tuple[Model, datetime], data: st.DataObject) -> None:
    model, start = scenario
    minutes = data.draw(st.integers(1, min(model.weekly_minutes(), 3 * 1440)), label="minutes")
    cal = model.calendar()
    due = due_at(start, minutes * MINUTE, cal)
    assert due == Oracle(model).due(start, minutes)
    assert due.tzinfo is UTC
    assert business_time_between(start, due, cal) == minutes * MINUTE


@PROPERTY_SETTINGS
@given(scenarios())
def test_is_working_and_next_working_instant_match_oracle(
    scenario: tuple[Model, datetime],
) -> None:
    model, at = scenario
    cal = model.calendar()
    oracle = Oracle(model)
    assert cal.is_working(at) == oracle.working(int(at.timestamp()))
    assert cal.next_working_instant(at) == oracle.next_working(at)


@PROPERTY_SETTINGS
@given(scenarios(), st.sampled_from(TIMEZONES))
def test_hours_moved_to_another_zone_match_the_oracle_there(
    scenario: tuple[Model, datetime], timezone: str
) -> None:
    model, at = scenario
    moved = model.calendar().in_timezone(ZoneInfo(timezone))
    oracle = Oracle(replace(model, timezone=timezone))
    assert moved.is_working(at) == oracle.working(int(at.timestamp()))
    assert moved.next_working_instant(at) == oracle.next_working(at)


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.integers(0, 5 * 1440), st.integers(0, 59), st.integers(0, 999_999))
def test_due_at_is_consistent_off_the_minute_grid(
    scenario: tuple[Model, datetime], minutes: int, seconds: int, micros: int
) -> None:
    model, start = scenario
    start += timedelta(seconds=seconds, microseconds=micros)
    duration = timedelta(minutes=minutes % max(model.weekly_minutes(), 1), seconds=seconds)
    cal = model.calendar()
    due = due_at(start, duration, cal)
    assert due >= start
    assert business_time_between(start, due, cal) == duration
    if duration:
        # Earliest: a microsecond earlier is not enough.
        assert business_time_between(start, due - timedelta(microseconds=1), cal) < duration
