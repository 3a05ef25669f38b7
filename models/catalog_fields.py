"""Single values in a catalog: person refs, keys, ids, time zones, percentages.

Each is an `Annotated` type whose validator turns a wrong value into an
"expected ..." message the admin can act on; the schema in `models.catalog_specs`
is built from them.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator

from models.catalog_errors import shorten, show_value
from models.durations import BusinessDuration
from models.i18n import N_, _

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: Final[tuple[Priority, ...]] = ("urgent", "high", "normal", "low")
PersonRefKind = Literal["email", "slack", "teams"]

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")
_SLACK_WORKSPACE = re.compile(r"T[A-Z0-9]{2,31}")
_TEAMS_USER = re.compile(r"29:\S+")
_TEAMS_CHANNEL = re.compile(r"19:\S+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_PERCENT = re.compile(r"\s*([0-9]{1,18})\s*%?\s*")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# What people write between days they mean together: mon-fri, mon, wed, mon to fri.
_BETWEEN_DAYS = re.compile(r"[\s,;/&+-]+|\.\.")


def classify_person_ref(ref: str) -> tuple[PersonRefKind, str]:
    """An email (lower-cased), a Slack user id (`U…`/`W…`) or a Teams id (`29:…`)."""
    text = ref.strip()
    if _EMAIL.fullmatch(text):
        return "email", text.lower()
    if _SLACK_USER.fullmatch(text):
        return "slack", text
    if _TEAMS_USER.fullmatch(text):
        return "teams", text
    raise ValueError(
        _(
            "expected an email, a Slack user id (like U0123ABC) "
            "or a Teams id (29:...), got '{ref}'",
            ref=ref,
        )
    )


def _person_ref(value: str) -> str:
    return classify_person_ref(value)[1]


def _notify_ref(value: str) -> str:
    if value.strip() in ("leads", "members"):
        return value.strip()
    try:
        return _person_ref(value)
    except ValueError:
        raise ValueError(
            _(
                "expected leads, members, an email, a Slack user id or a Teams id, got '{ref}'",
                ref=value,
            )
        ) from None


def _matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    def check(value: str) -> str:
        text = value.strip()
        if not pattern.fullmatch(text):
            raise ValueError(_(expected, got=value))
        return text

    return AfterValidator(check)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            _("unknown time zone '{tz}'; expected a name like Europe/Berlin or UTC", tz=value)
        ) from None
    return value


def _email(value: str) -> str:
    kind, ref = classify_person_ref(value)
    if kind != "email":
        raise ValueError(_("expected an email address, got '{got}'", got=value))
    return ref


def _percent(value: object) -> int:
    match = _PERCENT.fullmatch(value) if isinstance(value, str) else None
    if match is not None:
        number = int(match.group(1))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        shown = shorten(value) if isinstance(value, str) else value
        raise ValueError(_("expected a percentage like 75%, got '{got}'", got=shown))
    if not 1 <= number <= 99:
        raise ValueError(_("expected a percentage between 1% and 99%, got {got}%", got=number))
    return number


def _priority(value: object) -> Priority:
    if value in PRIORITIES:
        return value
    raise ValueError(
        _(
            "unknown priority '{got}'; expected one of: {choices}",
            got=value,
            choices=", ".join(PRIORITIES),
        )
    )


def _day_of(text: str) -> str | None:
    """`mon`, `Tues`, `thursday` -> the day's first three letters; None for anything else."""
    word = text.strip().lower().rstrip(".")
    if word == "weds":
        return "wed"
    found = [day for day in _WEEKDAYS if len(word) >= 3 and day.startswith(word)]
    return found[0][:3] if found else None


def _weekday(value: str) -> str:
    day = _day_of(value)
    if day is not None:
        return day
    parts = [part for part in _BETWEEN_DAYS.split(value.strip().lower()) if part]
    if len(parts) > 1 and any(_day_of(part) for part in parts):
        raise ValueError(
            _(
                "expected one day, like mon, got {got}; it happens once a week",
                got=show_value(value),
            )
        )
    raise ValueError(_("expected a weekday like mon or friday, got {got}", got=show_value(value)))


def _clock_time(value: str) -> str:
    match = _CLOCK.fullmatch(value.strip())
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return f"{int(match[1]):02d}:{int(match[2]):02d}"
    if len(_CLOCK.findall(value)) > 1:
        raise ValueError(
            _(
                "expected one time, like 09:00, got {got}; it happens once a week",
                got=show_value(value),
            )
        )
    raise ValueError(_("expected a time like 09:00, got {got}", got=show_value(value)))


def _one_alias(value: str) -> str:
    # `aliases: [helpdesk,computer]` is two; `aliases: ["helpdesk,computer"]` would be
    # one alias nobody types.
    if "," in value or ";" in value:
        raise ValueError(
            _(
                "expected one alias per entry, like [helpdesk, computer], got {got}",
                got=show_value(value),
            )
        )
    return value


def _bounded_duration(value: object) -> object:
    # parse_duration would hand a number of thousands of digits to int(), whose
    # refusal (Python's own words) is no message for an admin.
    if isinstance(value, str) and len(value.strip()) > 24:
        raise ValueError(
            _("expected a duration like 45s, 30m, 4h or 2d, got {got}", got=show_value(value))
        )
    return value


TimeZoneName = Annotated[str, AfterValidator(_timezone)]
PersonRef = Annotated[str, AfterValidator(_person_ref)]
NotifyRef = Annotated[str, AfterValidator(_notify_ref)]
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
Percent = Annotated[int, PlainValidator(_percent, json_schema_input_type=int | str)]
PriorityKey = Annotated[Priority, PlainValidator(_priority, json_schema_input_type=str)]
TeamKey = Annotated[
    str,
    Field(max_length=64),
    _matching(
        _SLUG, N_("expected a key of lower-case letters, digits and -, like it, got '{got}'")
    ),
]
RequestPrefix = Annotated[
    str,
    Field(max_length=16),
    _matching(_PREFIX, N_("expected a prefix of letters, digits and -, like IT, got '{got}'")),
    AfterValidator(str.upper),
]
Alias = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(_one_alias),
    _matching(re.compile(r"\S+"), N_("expected one word without spaces, got '{got}'")),
    AfterValidator(str.lower),
]
SlackUserId = Annotated[
    str, _matching(_SLACK_USER, N_("expected a Slack user id like U0123ABC, got '{got}'"))
]
SlackChannelId = Annotated[
    str, _matching(_SLACK_CHANNEL, N_("expected a Slack channel id like C0123ABC, got '{got}'"))
]
SlackWorkspaceId = Annotated[
    str,
    _matching(_SLACK_WORKSPACE, N_("expected a Slack workspace id like T0123ABC, got '{got}'")),
]
TeamsUserId = Annotated[
    str, Field(max_length=200), _matching(_TEAMS_USER, N_("expected a Teams id like 29:1abc..."))
]
TeamsChannelId = Annotated[
    str,
    Field(max_length=200),
    _matching(_TEAMS_CHANNEL, N_("expected a Teams channel id like 19:...@thread.tacv2")),
]
LanguageTag = Annotated[
    str, _matching(_LANGUAGE, N_("expected a language code like en, de or it, got '{got}'"))
]
Label = Annotated[str, Field(min_length=1, max_length=200)]
Weekday = Annotated[str, AfterValidator(_weekday)]
ClockTime = Annotated[str, AfterValidator(_clock_time)]
Duration = Annotated[BusinessDuration, BeforeValidator(_bounded_duration)]
