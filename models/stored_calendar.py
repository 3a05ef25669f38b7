"""A calendar as stored in the `calendars` table, and back to a BusinessCalendar.

The stored form is plain JSON so the table needs no knowledge of the calendar
code: {"always_open": bool, "timezone": str, "hours": {"mon-fri": "09:00-17:00"},
"holidays": {"country": "DE", "subdivision": null, "dates": ["2026-12-24"]}}.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from models.calendar import BusinessCalendar, HolidayRule, parse_hours


def calendar_from_spec(spec: dict[str, Any]) -> BusinessCalendar:
    # Specs are small and few; caching by their JSON text keeps the per-day
    # interval caches of each BusinessCalendar warm across requests.
    return _build(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=256)
def _build(spec_json: str) -> BusinessCalendar:
    spec: dict[str, Any] = json.loads(spec_json)
    timezone = str(spec.get("timezone") or "UTC")
    if spec.get("always_open"):
        return BusinessCalendar.twenty_four_seven(timezone)
    holidays: dict[str, Any] = spec.get("holidays") or {}
    return BusinessCalendar(
        timezone=ZoneInfo(timezone),
        week=parse_hours(dict(spec.get("hours") or {})),
        holidays=HolidayRule(
            country=holidays.get("country"),
            subdivision=holidays.get("subdivision"),
            dates=frozenset(date.fromisoformat(d) for d in holidays.get("dates") or []),
        ),
    )
