"""When a request's clocks reach their milestones: the warning before a standard
lapses, each rung of the escalation ladder after it, and the survey's reminder and
auto-close. Pure: it takes the clock state and `now`, and says what is due.

Every milestone is "the clock has consumed X of business time". For a running
clock that is an instant we can compute exactly; a paused clock (waiting on the
requester, resolved) reaches nothing until it runs again, and then it goes on
from the time it had consumed: pausing never restarts a ladder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.calendar import BusinessCalendar, business_time_between, due_at
from models.vocabulary import ClockKind

WARNING_LEVEL = 0
REMINDER_LEVEL = 1
AUTO_CLOSE_LEVEL = 2


@dataclass(frozen=True)
class ClockState:
    created_at: datetime
    first_response_at: datetime | None
    first_response_target: timedelta
    resolution_target: timedelta
    resolution_consumed: timedelta
    resolution_running_since: datetime | None
    resolved_at: datetime | None  # set while resolved (awaiting the survey)
    closed: bool


@dataclass(frozen=True)
class Policy:
    warn_at_percent: int
    ladder: tuple[timedelta, ...]  # `after` of each rung, level 1 first
    auto_close_after: timedelta


@dataclass(frozen=True, order=True)
class Milestone:
    at: datetime
    clock: ClockKind
    level: int


def milestones(state: ClockState, policy: Policy, calendar: BusinessCalendar) -> list[Milestone]:
    """Every milestone that a running clock will reach, with its instant."""
    if state.closed:
        return []
    found: list[Milestone] = []
    if state.resolved_at is not None:
        found.append(
            Milestone(
                due_at(state.resolved_at, policy.auto_close_after / 2, calendar),
                ClockKind.SURVEY,
                REMINDER_LEVEL,
            )
        )
        found.append(
            Milestone(
                due_at(state.resolved_at, policy.auto_close_after, calendar),
                ClockKind.SURVEY,
                AUTO_CLOSE_LEVEL,
            )
        )
        return found
    if state.first_response_at is None:
        found += _clock(
            ClockKind.FIRST_RESPONSE,
            state.created_at,
            timedelta(0),
            state.first_response_target,
            policy,
            calendar,
        )
    if state.resolution_running_since is not None:
        found += _clock(
            ClockKind.RESOLUTION,
            state.resolution_running_since,
            state.resolution_consumed,
            state.resolution_target,
            policy,
            calendar,
        )
    return sorted(found)


def _clock(
    kind: ClockKind,
    running_since: datetime,
    consumed: timedelta,
    target: timedelta,
    policy: Policy,
    calendar: BusinessCalendar,
) -> Iterable[Milestone]:
    def reached(amount: timedelta) -> datetime:
        # The instant the clock will have consumed `amount` (now-ish if it has).
        return due_at(running_since, max(amount - consumed, timedelta(0)), calendar)

    yield Milestone(reached(target * policy.warn_at_percent / 100), kind, WARNING_LEVEL)
    for level, after in enumerate(policy.ladder, start=1):
        yield Milestone(reached(target + after), kind, level)


@dataclass(frozen=True)
class Plan:
    due: list[Milestone]  # reached and not yet acted on, oldest first
    # Reached, but to be marked done without a word: a warning due together with
    # its own lapse, or a reminder due together with the auto-close.
    silent: list[Milestone]
    next_check_at: datetime | None  # when the next one will be reached


def plan(
    state: ClockState,
    policy: Policy,
    calendar: BusinessCalendar,
    done: set[tuple[ClockKind, int]],
    now: datetime,
) -> Plan:
    pending = [m for m in milestones(state, policy, calendar) if (m.clock, m.level) not in done]
    reached = [m for m in pending if m.at <= now]
    later = [m.at for m in pending if m.at > now]
    lapsed = {m.clock for m in reached if m.level >= 1 and m.clock is not ClockKind.SURVEY}
    closing = any(m.clock is ClockKind.SURVEY and m.level == AUTO_CLOSE_LEVEL for m in reached)

    def silenced(m: Milestone) -> bool:
        if m.clock is ClockKind.SURVEY:
            return closing and m.level == REMINDER_LEVEL
        return m.level == WARNING_LEVEL and m.clock in lapsed

    return Plan(
        due=[m for m in reached if not silenced(m)],
        silent=[m for m in reached if silenced(m)],
        next_check_at=min(later) if later else None,
    )


def waited(state: ClockState, calendar: BusinessCalendar, now: datetime) -> timedelta:
    """Business time the requester has waited so far."""
    return max(business_time_between(state.created_at, now, calendar), timedelta(0))
