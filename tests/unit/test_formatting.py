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
        ("de", "Di. 10:30", "Di. 10:30"),
        ("it", "mar 10:30", "mar 10:30"),
    ],
)
def test_the_promise_time_is_local_on_both_sides_of_dst(
    language: str, winter: str, summer: str
) -> None:
    with reader(language, "Europe/Berlin"):
        assert format_when(WINTER) == winter
        assert format_when(SUMMER) == summer


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
                respond=format_when(WINTER),
                resolve=format_when(WINTER + timedelta(days=2)),
            )
    assert said["en"] == "IT aims to respond by Tue 10:30 and resolve by Thu 10:30."
    assert said["de"] == "IT antwortet bis Di. 10:30 und löst das Anliegen bis Do. 10:30."
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
