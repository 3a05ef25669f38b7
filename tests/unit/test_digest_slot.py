"""The weekly digest comes due at its weekday and time, in the team's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from models.digest_slot import digest_week

BERLIN = ZoneInfo("Europe/Berlin")


def test_due_from_the_slot_in_the_teams_zone_until_the_week_ends() -> None:
    monday_0759_berlin = datetime(2026, 11, 23, 6, 59, tzinfo=UTC)
    monday_0800_berlin = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    sunday_late = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert digest_week(monday_0759_berlin, BERLIN, "mon", "08:00") is None
    assert digest_week(monday_0800_berlin, BERLIN, "mon", "08:00") == "2026-W48"
    assert digest_week(sunday_late, BERLIN, "mon", "08:00") == "2026-W48"


def test_a_friday_slot_is_not_due_earlier_in_the_week() -> None:
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert digest_week(wednesday, BERLIN, "fri", "16:00") is None
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert digest_week(friday, BERLIN, "fri", "16:00") == "2026-W48"


def test_the_local_date_decides_near_midnight() -> None:
    # 23:30 UTC on Sunday is already Monday 00:30 in Berlin.
    late_sunday_utc = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert digest_week(late_sunday_utc, BERLIN, "mon", "00:00") == "2026-W49"
    assert digest_week(late_sunday_utc, ZoneInfo("UTC"), "mon", "00:00") == "2026-W48"
