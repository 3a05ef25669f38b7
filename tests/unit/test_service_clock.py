"""The resolution clock: pauses, resumes, priority changes, all in business time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from models.calendar import BusinessCalendar, parse_hours
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
