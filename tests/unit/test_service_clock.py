"""The resolution clock: pauses, resumes, priority changes, all in business time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.sla import consumed_resolution_time, pause, resume, start_clocks
from models.calendar import BusinessCalendar, business_time_between, due_at, parse_hours
from models.requests import Request
from models.service_clock import ResolutionClock

OFFICE = BusinessCalendar(
    timezone=ZoneInfo("Europe/Berlin"), week=parse_hours({"mon-fri": "09:00-17:00"})
)
BERLIN = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


def test_a_running_clock_is_due_after_the_target_in_business_time() -> None:
    clock = ResolutionClock.start(timedelta(hours=4), at(27, 15))  # Friday 15:00
    assert clock.due(OFFICE) == at(30, 11)  # Monday 11:00


def test_pausing_keeps_consumed_time_and_has_no_due_time() -> None:
    clock = ResolutionClock.start(timedelta(hours=4), at(23, 9)).pause(at(23, 10), OFFICE)
    assert clock.consumed == timedelta(hours=1)
    assert clock.due(OFFICE) is None
    assert clock.remaining(at(25, 12), OFFICE) == timedelta(hours=3)


def test_resuming_continues_where_it_paused() -> None:
    clock = (
        ResolutionClock.start(timedelta(hours=4), at(23, 9))
        .pause(at(23, 10), OFFICE)
        .resume(at(25, 16))
    )
    assert clock.due(OFFICE) == at(26, 11)  # 1h Wednesday + 2h Thursday


def test_priority_change_keeps_consumed_time() -> None:
    clock = ResolutionClock.start(timedelta(hours=24), at(23, 9)).pause(at(23, 12), OFFICE)
    urgent = clock.retarget(timedelta(hours=4)).resume(at(23, 13))
    assert urgent.consumed == timedelta(hours=3)
    assert urgent.due(OFFICE) == at(23, 14)


def test_remaining_goes_negative_once_lapsed() -> None:
    clock = ResolutionClock.start(timedelta(hours=1), at(23, 9))
    assert clock.remaining(at(23, 11), OFFICE) == timedelta(hours=-1)


def test_time_outside_business_hours_never_counts() -> None:
    clock = ResolutionClock.start(timedelta(hours=8), at(27, 16))  # Friday 16:00
    assert clock.consumed_at(at(30, 8, 59), OFFICE) == timedelta(hours=1)
    assert clock.due(OFFICE) == at(30, 16)  # 1h on Friday, 7h on Monday


# --- consumed time is exact across any number of pauses --------------------------------------
# Through handlers.sla, which stores the clock on the request row: what a pause
# keeps is what the database keeps, and that is what must not drift.


def stored_request(target: timedelta, start: datetime, calendar: BusinessCalendar) -> Request:
    request = Request()
    start_clocks(request, start, target, target, calendar)
    return request


def test_fifty_short_pauses_lose_nothing() -> None:
    calendar = BusinessCalendar.twenty_four_seven()
    now = at(23, 10)
    request = stored_request(timedelta(hours=4), now, calendar)
    for _ in range(50):
        now += timedelta(seconds=0.7)
        pause(request, now, calendar)
        now += timedelta(minutes=3)
        resume(request, now, calendar)
    pause(request, now, calendar)
    assert consumed_resolution_time(request) == timedelta(seconds=35)  # 50 x 0.7 s
    resume(request, now, calendar)
    assert request.resolution_due_at == now + timedelta(hours=4) - timedelta(seconds=35)


@st.composite
def run_and_pause_spans(draw: st.DrawFn) -> list[tuple[timedelta, timedelta]]:
    """(ran, then paused) spans with microseconds, most of them short."""
    span = st.one_of(st.integers(0, 2_000_000), st.integers(0, 3 * 86_400 * 1_000_000)).map(
        lambda us: timedelta(microseconds=us)
    )
    return draw(st.lists(st.tuples(span, span), min_size=1, max_size=60))


@settings(max_examples=150, deadline=None)
@given(
    run_and_pause_spans(),
    st.sampled_from([OFFICE, BusinessCalendar.twenty_four_seven()]),
    st.integers(0, 7 * 86_400 * 1_000_000),
)
def test_consumed_time_is_the_business_time_of_one_span_minus_the_pauses(
    spans: list[tuple[timedelta, timedelta]], calendar: BusinessCalendar, offset_us: int
) -> None:
    start = at(23, 0) + timedelta(microseconds=offset_us)
    request = stored_request(timedelta(days=30), start, calendar)
    now, paused = start, timedelta(0)
    for ran, waited in spans:
        now += ran
        pause(request, now, calendar)
        paused += business_time_between(now, now + waited, calendar)
        now += waited
        resume(request, now, calendar)
    # The oracle: the clock ran from the start until now, except while it was paused.
    expected = business_time_between(start, now, calendar) - paused
    assert consumed_resolution_time(request) == expected
    assert request.resolution_due_at == due_at(now, timedelta(days=30) - expected, calendar)
