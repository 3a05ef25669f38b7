"""When the weekly digest is due: a weekday and a time in a given time zone. Pure."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def digest_week(now: datetime, timezone: ZoneInfo, day: str, at: str) -> str | None:
    """The ISO week ("2026-W48") whose digest is due at `now`, or None before the slot.

    Due from the slot (day, time, local) until the end of that ISO week, so a
    process that was down at the slot still posts the digest when it comes back;
    posting once per week is the caller's business (an idempotency key).
    """
    local = now.astimezone(timezone)
    hours, minutes = (int(part) for part in at.split(":"))
    slot_date = local.date() - timedelta(days=local.weekday() - WEEKDAYS.index(day))
    slot = datetime.combine(slot_date, time(hours, minutes), tzinfo=timezone)
    if local < slot:
        return None
    year, week, _weekday = local.isocalendar()
    return f"{year}-W{week:02d}"
