"""The resolution clock of a request: pure arithmetic over business time.

It runs while the team holds the request and pauses while the request waits on
its requester. Consumed time is kept across pauses and across priority changes
(a new priority brings a new target, not a fresh clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from models.calendar import BusinessCalendar, business_time_between, due_at


@dataclass(frozen=True)
class ResolutionClock:
    target: timedelta
    consumed: timedelta
    running_since: datetime | None

    @classmethod
    def start(cls, target: timedelta, now: datetime) -> ResolutionClock:
        return cls(target=target, consumed=timedelta(0), running_since=now)

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def consumed_at(self, now: datetime, calendar: BusinessCalendar) -> timedelta:
        if self.running_since is None:
            return self.consumed
        return self.consumed + max(
            business_time_between(self.running_since, now, calendar), timedelta(0)
        )

    def pause(self, now: datetime, calendar: BusinessCalendar) -> ResolutionClock:
        if self.running_since is None:
            return self
        return ResolutionClock(self.target, self.consumed_at(now, calendar), None)

    def resume(self, now: datetime) -> ResolutionClock:
        if self.running_since is not None:
            return self
        return replace(self, running_since=now)

    def retarget(self, target: timedelta) -> ResolutionClock:
        return replace(self, target=target)

    def due(self, calendar: BusinessCalendar) -> datetime | None:
        """When the standard lapses if nothing changes; None while paused."""
        if self.running_since is None:
            return None
        left = max(self.target - self.consumed, timedelta(0))
        return due_at(self.running_since, left, calendar)

    def remaining(self, now: datetime, calendar: BusinessCalendar) -> timedelta:
        """Business time left (negative once lapsed)."""
        return self.target - self.consumed_at(now, calendar)
