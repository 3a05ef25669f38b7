"""Single values in a catalog: person refs, keys, ids, time zones, percentages.

Each is an `Annotated` type whose validator turns a wrong value into an
"expected ..." message the admin can act on; the schema in `models.catalog_specs`
is built from them.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, PlainValidator

from models.i18n import N_, _

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: Final[tuple[Priority, ...]] = ("urgent", "high", "normal", "low")
PersonRefKind = Literal["email", "slack", "teams"]

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")
_TEAMS_USER = re.compile(r"29:\S+")
_TEAMS_CHANNEL = re.compile(r"19:\S+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_PERCENT = re.compile(r"\s*([0-9]+)\s*%?\s*")


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
        raise ValueError(_("expected a percentage like 75%, got '{got}'", got=value))
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
    _matching(re.compile(r"\S+"), N_("expected one word without spaces, got '{got}'")),
    AfterValidator(str.lower),
]
SlackUserId = Annotated[
    str, _matching(_SLACK_USER, N_("expected a Slack user id like U0123ABC, got '{got}'"))
]
SlackChannelId = Annotated[
    str, _matching(_SLACK_CHANNEL, N_("expected a Slack channel id like C0123ABC, got '{got}'"))
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
