"""Keeping a request's stored SLA clock state in step with its status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from models.calendar import BusinessCalendar, business_time_between, due_at
from models.requests import Request
from models.service_clock import ResolutionClock

_MICROSECOND = timedelta(microseconds=1)


def resolution_clock(request: Request) -> ResolutionClock:
    return ResolutionClock(
        target=timedelta(seconds=request.resolution_target_seconds),
        consumed=consumed_resolution_time(request),
        running_since=request.resolution_running_since,
    )


def consumed_resolution_time(request: Request) -> timedelta:
    """Business time the resolution clock consumed before its current run, exactly."""
    return timedelta(microseconds=request.resolution_consumed_microseconds)


def store_resolution_clock(
    request: Request, clock: ResolutionClock, calendar: BusinessCalendar
) -> None:
    request.resolution_target_seconds = int(clock.target.total_seconds())
    # timedelta counts in whole microseconds, so this is exact: no pause loses time.
    request.resolution_consumed_microseconds = clock.consumed // _MICROSECOND
    request.resolution_running_since = clock.running_since
    request.resolution_due_at = clock.due(calendar)


def start_clocks(
    request: Request,
    now: datetime,
    first_response: timedelta,
    resolution: timedelta,
    calendar: BusinessCalendar,
) -> None:
    request.first_response_target_seconds = int(first_response.total_seconds())
    request.first_response_due_at = due_at(now, first_response, calendar)
    store_resolution_clock(request, ResolutionClock.start(resolution, now), calendar)


def pause(request: Request, now: datetime, calendar: BusinessCalendar) -> None:
    store_resolution_clock(request, resolution_clock(request).pause(now, calendar), calendar)


def resume(request: Request, now: datetime, calendar: BusinessCalendar) -> None:
    store_resolution_clock(request, resolution_clock(request).resume(now), calendar)


def retarget(
    request: Request,
    first_response: timedelta,
    resolution: timedelta,
    calendar: BusinessCalendar,
) -> None:
    """A new priority: new targets, same consumed time, same start."""
    request.first_response_target_seconds = int(first_response.total_seconds())
    request.first_response_due_at = due_at(request.created_at, first_response, calendar)
    store_resolution_clock(request, resolution_clock(request).retarget(resolution), calendar)


def time_left(request: Request, now: datetime, calendar: BusinessCalendar) -> timedelta | None:
    """Business time left on the clock that matters now; None while paused or done."""
    if request.first_response_at is None:
        return business_time_between(now, request.first_response_due_at, calendar)
    if request.resolution_running_since is None:
        return None
    return resolution_clock(request).remaining(now, calendar)


def snapshot_time_left(
    snapshot: dict[str, Any], calendar: BusinessCalendar, now: datetime
) -> timedelta | None:
    """Time left as of `now` for a request snapshot in a notice (see notices.snapshot)."""
    if snapshot.get("first_response_at") is None:
        due = datetime.fromisoformat(snapshot["first_response_due_at"])
        return business_time_between(now, due, calendar)
    if snapshot.get("resolution_due_at"):
        return business_time_between(
            now, datetime.fromisoformat(snapshot["resolution_due_at"]), calendar
        )
    return None
