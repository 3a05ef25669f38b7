"""The one translation function, and locale-aware formatting.

Every string a person reads goes through `_()` / `ngettext()` here, and every
date, time and duration through the `format_*` helpers, so adding a language
means adding a message catalog, not changing code. The reader's locale and
time zone are ambient (context variables) because a notice is rendered for one
reader at a time, deep inside code that should not thread them through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

DOMAIN = "inhouse"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LOCALE = "en"

_locale: ContextVar[str] = ContextVar("inhouse_locale", default=DEFAULT_LOCALE)
_timezone: ContextVar[str] = ContextVar("inhouse_timezone", default="UTC")


@lru_cache(maxsize=32)
def _translations(locale: str) -> NullTranslations:
    """The language's catalog, compiled from its .po file when first needed.

    Compiling at load time (milliseconds, once per process) means a fresh
    checkout, an editable install and a wheel all have their catalogs without a
    build step, and a translator sees a change by restarting, not rebuilding.
    """
    source = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not source.exists():
        return NullTranslations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


@lru_cache(maxsize=1)
def shipped_languages() -> frozenset[str]:
    """Languages with a message catalog, plus English (the source language)."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return frozenset({DEFAULT_LOCALE, *found})


def normalise_locale(tag: str | None) -> str:
    """`de-AT`, `de_AT.UTF-8`, `it` -> a Babel locale id we ship; otherwise English.

    A reader whose language has no catalog yet reads English throughout, dates
    included: half-translated text (English words, Italian weekdays) reads worse.
    """
    if not tag:
        return DEFAULT_LOCALE
    cleaned = tag.split(".")[0].replace("-", "_")
    try:
        locale = Locale.parse(cleaned)
    except (ValueError, TypeError, UnknownLocaleError):
        return DEFAULT_LOCALE
    if str(locale) in shipped_languages():
        return str(locale)
    return locale.language if locale.language in shipped_languages() else DEFAULT_LOCALE


def current_locale() -> str:
    return _locale.get()


def current_timezone() -> ZoneInfo:
    return ZoneInfo(_timezone.get())


@contextlib.contextmanager
def reader(locale: str | None = None, timezone: str | None = None) -> Iterator[None]:
    """Render everything inside for one reader: their language and time zone."""
    locale_token = _locale.set(normalise_locale(locale))
    tz_token = _timezone.set(timezone or "UTC")
    try:
        yield
    finally:
        _locale.reset(locale_token)
        _timezone.reset(tz_token)


def _(message: str, **params: object) -> str:
    """Translate `message` for the current reader and fill `{name}` params."""
    text = _translations(current_locale()).gettext(message)
    return text.format(**params) if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = _translations(current_locale()).ngettext(singular, plural, n)
    return text.format(n=n, **params)


class Lazy:
    """A message translated when it is shown, not when it is made: for values that
    fill another message's placeholder (an error raised now, read later)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __format__(self, spec: str) -> str:
        return format(_(self.message), spec)

    def __str__(self) -> str:
        return _(self.message)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated on render)."""
    return message


# A weekday alone names an instant only while it is within the next six days:
# today's weekday comes round again on the seventh.
NEAR_DAYS = 6


def format_when(moment: datetime, now: datetime) -> str:
    """An instant as the reader says it, in their time zone: the one date and time
    style of every channel (cards, fallbacks, the console, reports).

    'Tue 17:00' while it lies within the next six days, where a weekday is
    unambiguous; otherwise with its date, 'Tue, Dec 15, 17:00', and its year when
    that is not the reader's current one. `now` is the reader's present, passed in
    (a channel's clock), so the rule is pure. Patterns come from the language's
    CLDR skeletons, so each language gets its own order and abbreviations.
    """
    zone = current_timezone()
    locale = current_locale()
    local, today = moment.astimezone(zone), now.astimezone(zone)
    ahead = (local.date() - today.date()).days
    if moment >= now and ahead <= NEAR_DAYS:
        return str(format_skeleton("EHm", local, tzinfo=zone, locale=locale))
    date = format_skeleton(
        "MMMEd" if local.year == today.year else "yMMMEd", local, tzinfo=zone, locale=locale
    )
    time = format_skeleton("Hm", local, tzinfo=zone, locale=locale)
    # How the language joins a date and a time ("{1}, {0}"), as Babel does.
    joined = str(Locale.parse(locale).datetime_formats["medium"]).replace("'", "")
    return joined.replace("{1}", str(date)).replace("{0}", str(time))


def format_duration(span: timedelta, *, add_direction: bool = False) -> str:
    """'4 hours', 'in 3 hours' / '2 days ago' with `add_direction`."""
    return format_timedelta(
        span,
        threshold=1.5,
        add_direction=add_direction,
        format="long",
        locale=current_locale(),
    )


def format_number(value: float) -> str:
    return format_decimal(value, locale=current_locale())


def format_share(value: float) -> str:
    """A share 0..1 as a percentage in the reader's locale."""
    return format_percent(value, locale=current_locale())
