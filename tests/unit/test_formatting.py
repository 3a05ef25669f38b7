"""Dates, times and durations read naturally in each language, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.i18n import _, format_duration, format_when, normalise_locale, reader

WINTER = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # Tuesday, CET (UTC+1)
SUMMER = datetime(2026, 7, 14, 8, 30, tzinfo=UTC)  # Tuesday, CEST (UTC+2)


@pytest.mark.parametrize(
    ("language", "winter", "summer"),
    [
        ("en", "Tue 10:30", "Tue 10:30"),
        ("de", "Di., 10:30", "Di., 10:30"),
        ("it", "mar 10:30", "mar 10:30"),
    ],
)
def test_the_promise_time_is_local_on_both_sides_of_dst(
    language: str, winter: str, summer: str
) -> None:
    with reader(language, "Europe/Berlin"):
        assert format_when(WINTER, WINTER - timedelta(hours=3)) == winter
        assert format_when(SUMMER, SUMMER - timedelta(days=1)) == summer


# Thursday 3 December 2026, 09:00 in Berlin; the instants are 17:00 there.
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def berlin_17(day: int, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "near", "dated", "next_year"),
    [
        ("en", "Wed 17:00", "Tue, Dec 15, 17:00", "Tue, Jan 12, 2027, 17:00"),
        ("de", "Mi., 17:00", "Di., 15. Dez., 17:00", "Di., 12. Jan. 2027, 17:00"),
        ("it", "mer 17:00", "mar 15 dic, 17:00", "mar 12 gen 2027, 17:00"),
    ],
)
def test_an_instant_beyond_the_coming_week_names_its_date(
    language: str, near: str, dated: str, next_year: str
) -> None:
    with reader(language, "Europe/Berlin"):
        assert format_when(berlin_17(9), NOW) == near
        assert format_when(berlin_17(15), NOW) == dated
        assert format_when(berlin_17(12, 1, 2027), NOW) == next_year


def test_a_weekday_alone_is_said_only_while_it_is_unambiguous() -> None:
    with reader("en", "Europe/Berlin"):
        assert format_when(berlin_17(3), NOW) == "Thu 17:00"  # later today
        assert format_when(berlin_17(9), NOW) == "Wed 17:00"  # six days ahead
        # Next Thursday would read like today: the seventh day carries its date.
        assert format_when(berlin_17(10), NOW) == "Thu, Dec 10, 17:00"
        # Past instants (a lapsed standard, the history) always carry their date.
        assert format_when(NOW - timedelta(hours=1), NOW) == "Thu, Dec 3, 08:00"
        assert format_when(berlin_17(2), NOW) == "Wed, Dec 2, 17:00"


def test_the_reader_zone_decides_the_day() -> None:
    late = datetime(2026, 12, 9, 23, 30, tzinfo=UTC)  # Wed in New York, Thu in Berlin
    with reader("en", "America/New_York"):
        assert format_when(late, NOW) == "Wed 18:30"
    with reader("en", "Europe/Berlin"):
        assert format_when(late, NOW) == "Thu, Dec 10, 00:30"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "3 hours"), ("de", "3 Stunden"), ("it", "3 ore")],
)
def test_durations(language: str, expected: str) -> None:
    with reader(language, "UTC"):
        assert format_duration(timedelta(hours=3)) == expected


def test_the_promise_reads_naturally_in_each_language() -> None:
    template = "{team} aims to respond by {respond} and resolve by {resolve}."
    said = {}
    for language in ("en", "de", "it"):
        with reader(language, "Europe/Rome"):
            said[language] = _(
                template,
                team="IT",
                respond=format_when(WINTER, WINTER - timedelta(hours=4)),
                resolve=format_when(WINTER + timedelta(days=2), WINTER - timedelta(hours=4)),
            )
    assert said["en"] == "IT aims to respond by Tue 10:30 and resolve by Thu 10:30."
    assert said["de"] == "IT antwortet bis Di., 10:30 und löst das Anliegen bis Do., 10:30."
    assert said["it"].startswith("IT si impegna a rispondere entro mar 10:30")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de-AT", "de"),
        ("de_DE.UTF-8", "de"),
        ("it", "it"),
        ("fr-FR", "en"),
        ("C", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_unknown_languages_fall_back_to_english(tag: str | None, expected: str) -> None:
    assert normalise_locale(tag) == expected
