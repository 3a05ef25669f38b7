"""The catalog: who serves whom, when, and with what promise (YAML, validated).

An admin edits one YAML file; `load_catalog` reads it and either returns a
frozen `Catalog` or raises `CatalogError` listing EVERY problem at once, each as
`file: path: what was expected` (path like `teams[1].standards.urgent.resolution`).
Shape and single-field rules live on the pydantic models; rules that relate
several places (unknown calendar names, duplicate keys, escalation order, ...)
run over the raw document as well, so one typo does not hide the next.
See `models/catalogs/example.yaml` for the format.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import (
    Annotated,
    Any,
    Final,
    Literal,
    NamedTuple,
    Union,
    cast,
    get_args,
    get_origin,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from models.calendar import BusinessCalendar, HolidayRule, parse_hours
from models.durations import BusinessDuration, parse_duration
from models.i18n import N_, _, ngettext

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: Final[tuple[Priority, ...]] = ("urgent", "high", "normal", "low")
PersonRefKind = Literal["email", "slack", "teams"]

EXAMPLE_CATALOG: Final = Path(__file__).parent / "catalogs" / "example.yaml"

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")
_TEAMS_USER = re.compile(r"29:\S+")
_TEAMS_CHANNEL = re.compile(r"19:\S+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_PERCENT = re.compile(r"\s*([0-9]+)\s*%?\s*")
_SKIP_CROSS_CHECKS: Final = "inhouse_skip_cross_checks"
_NEEDS_NORMAL: Final = N_("expected a 'normal' standard; priorities without one fall back to it")


# --- single values -------------------------------------------------------------------------


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


# --- the schema -----------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@lru_cache(maxsize=1)
def _holiday_countries() -> dict[str, list[str]]:
    return holidays_lib.list_supported_countries()


class HolidaysSpec(_Spec):
    country: str | None = None
    subdivision: str | None = None
    dates: list[date] = Field(default_factory=list)

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if code not in _holiday_countries():
            raise ValueError(
                _("unknown holiday country '{got}'; expected a code like DE, AT or IT", got=value)
            )
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "country" not in info.data:
            return value  # a bad country is reported on its own
        country = info.data["country"]
        if country is None:
            raise ValueError(_("a subdivision needs a country, like country: DE"))
        known = _holiday_countries()[country]
        found = {name.upper(): name for name in known}.get(value.strip().upper())
        if found is None:
            raise ValueError(
                _(
                    "unknown subdivision '{got}' of {country}; expected one of: {choices}",
                    got=value,
                    country=country,
                    choices=", ".join(known) or "-",
                )
            )
        return found


class CalendarSpec(_Spec):
    """Weekly working hours in a time zone, minus holidays; or `24x7` (always open, UTC)."""

    always_open: bool = False
    timezone: TimeZoneName
    hours: dict[str, str] = Field(default_factory=dict, validate_default=True)
    holidays: HolidaysSpec = HolidaysSpec()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, str) and data.strip().lower() == "24x7":
            return {"always_open": True, "timezone": "UTC"}
        if isinstance(data, (dict, CalendarSpec)):
            return data
        raise ValueError(
            _(
                "expected 24x7 or a mapping with timezone, hours and holidays, got {got}",
                got=_show(data),
            )
        )

    @field_validator("hours")
    @classmethod
    def _working_hours(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if info.data.get("always_open"):
            if value:
                raise ValueError(_("an always-open calendar takes no hours"))
            return value
        try:
            week = parse_hours(value)
        except ValueError as exc:
            raise ValueError(_("invalid working hours: {error}", error=exc)) from None
        if not any(week):
            raise ValueError(
                _('no working hours; expected days and times like mon-fri: "09:00-17:00"')
            )
        return value

    @field_validator("holidays")
    @classmethod
    def _open_on_holidays(cls, value: HolidaysSpec, info: ValidationInfo) -> HolidaysSpec:
        if info.data.get("always_open") and (value.country or value.dates):
            raise ValueError(_("an always-open calendar takes no holidays"))
        return value

    def build(self) -> BusinessCalendar:
        if self.always_open:
            return BusinessCalendar.twenty_four_seven(self.timezone)
        return BusinessCalendar(
            timezone=ZoneInfo(self.timezone),
            week=parse_hours(self.hours),
            holidays=HolidayRule(
                country=self.holidays.country,
                subdivision=self.holidays.subdivision,
                dates=frozenset(self.holidays.dates),
            ),
        )


class PersonSpec(_Spec):
    email: Email
    name: Label | None = None
    department: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    slack: SlackUserId | None = None
    teams: TeamsUserId | None = None
    timezone: TimeZoneName | None = None
    language: LanguageTag | None = None


class StandardSpec(_Spec):
    first_response: BusinessDuration
    resolution: BusinessDuration


class EscalationStepSpec(_Spec):
    after: BusinessDuration
    notify: list[NotifyRef]
    urgent: bool = False

    @field_validator("notify")
    @classmethod
    def _someone(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(_("expected at least one person, leads or members to notify"))
        return value


class TeamSpec(_Spec):
    key: TeamKey
    name: Label
    prefix: RequestPrefix | None = None
    aliases: list[Alias] = Field(default_factory=list)
    slack_channel: SlackChannelId | None = None
    teams_channel: TeamsChannelId | None = None
    members: list[PersonRef]
    leads: list[PersonRef] = Field(default_factory=list)
    calendar: str
    categories: list[Label] = Field(default_factory=list)
    standards: dict[PriorityKey, StandardSpec]
    warn_at: Percent = 75
    escalation: list[EscalationStepSpec] = Field(default_factory=list)

    @field_validator("members")
    @classmethod
    def _staffed(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(_("a team needs at least one member"))
        return value

    @field_validator("standards")
    @classmethod
    def _has_normal(cls, value: dict[Priority, StandardSpec]) -> dict[Priority, StandardSpec]:
        if "normal" not in value:
            raise ValueError(_(_NEEDS_NORMAL))
        return value

    @property
    def request_prefix(self) -> str:
        """What request keys start with: `IT` in `IT-42`."""
        return self.prefix or self.key.upper()

    def standard_for(self, priority: str) -> StandardSpec:
        """The standard for `priority`, or the team's `normal` one when it has none."""
        return self.standards.get(cast(Priority, str(priority))) or self.standards["normal"]


class SurveySpec(_Spec):
    scale: int = Field(default=5, ge=2, le=10)
    reopen_below: int = 3
    auto_close_after: BusinessDuration = BusinessDuration(3, "d")

    @model_validator(mode="before")
    @classmethod
    def _default_threshold(cls, data: object) -> object:
        # The default threshold 3 must still fit a two-point (thumbs) scale.
        if isinstance(data, dict) and "reopen_below" not in data:
            scale = data.get("scale")
            if isinstance(scale, int) and not isinstance(scale, bool) and scale >= 1:
                return {**data, "reopen_below": min(3, scale)}
        return data

    @field_validator("reopen_below")
    @classmethod
    def _within_scale(cls, value: int, info: ValidationInfo) -> int:
        scale = info.data.get("scale")
        if scale is not None and not 1 <= value <= scale:
            raise ValueError(
                _("expected a rating between 1 and {scale}, got {got}", scale=scale, got=value)
            )
        return value


class Catalog(_Spec):
    calendars: dict[Annotated[str, Field(min_length=1, max_length=64)], CalendarSpec]
    people: list[PersonSpec] = Field(default_factory=list)
    admins: list[PersonRef] = Field(default_factory=list)
    teams: list[TeamSpec]
    survey: SurveySpec = SurveySpec()
    recognition: bool = False

    _built: dict[str, BusinessCalendar] = PrivateAttr(default_factory=dict)

    @field_validator("teams")
    @classmethod
    def _some_team(cls, value: list[TeamSpec]) -> list[TeamSpec]:
        if not value:
            raise ValueError(_("expected at least one team"))
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Catalog:
        if info.context and info.context.get(_SKIP_CROSS_CHECKS):
            return self  # parse_catalog runs them on the raw document itself
        issues = _cross_check(self.model_dump(mode="json"))
        if issues:
            raise ValueError("\n".join(f"{issue.path}: {issue.message}" for issue in issues))
        return self

    def calendar(self, name: str) -> BusinessCalendar:
        """The business calendar called `name` (KeyError when there is none)."""
        if name not in self._built:
            spec = self.calendars.get(name)
            if spec is None:
                raise KeyError(_unknown_calendar(name, self.calendars))
            self._built[name] = spec.build()
        return self._built[name]

    def team(self, key_or_alias: str) -> TeamSpec | None:
        """The team with this key or alias, ignoring case and surrounding spaces."""
        wanted = key_or_alias.strip().lower()
        for team in self.teams:
            if wanted == team.key or wanted in team.aliases:
                return team
        return None

    def team_calendar(self, team: TeamSpec | str) -> BusinessCalendar:
        spec = team if isinstance(team, TeamSpec) else self.team(team)
        if spec is None:
            raise KeyError(_("unknown team '{team}'", team=team))
        return self.calendar(spec.calendar)


# --- errors ---------------------------------------------------------------------------------


class CatalogIssue(NamedTuple):
    path: str
    message: str


class CatalogError(Exception):
    """Everything wrong with one catalog file, one line per issue."""

    def __init__(self, file: str, issues: Sequence[CatalogIssue]) -> None:
        self.file = file
        self.issues = list(issues)
        super().__init__(file, self.issues)

    def __str__(self) -> str:
        return "\n".join(f"{self.file}: {issue.path}: {issue.message}" for issue in self.issues)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file; CatalogError lists every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(str(path), [CatalogIssue("(file)", _("no such file"))]) from None
    except UnicodeDecodeError:
        issue = CatalogIssue("(file)", _("expected UTF-8 text"))
        raise CatalogError(str(path), [issue]) from None
    except OSError as exc:
        issue = CatalogIssue("(file)", _("cannot read it: {reason}", reason=exc.strerror or exc))
        raise CatalogError(str(path), [issue]) from None
    return parse_catalog(text, str(path))


def parse_catalog(text: str, file: str) -> Catalog:
    """Validate catalog YAML `text`; `file` names it in error messages."""
    try:
        data, issues = _read_yaml(text)
    except yaml.MarkedYAMLError as exc:
        raise CatalogError(file, [_syntax_issue(exc)]) from None
    except yaml.YAMLError as exc:
        issue = CatalogIssue("(file)", _("YAML syntax error: {problem}", problem=exc))
        raise CatalogError(file, [issue]) from None
    catalog: Catalog | None = None
    if data is None:
        issues.append(
            CatalogIssue("(document)", _("the file is empty; expected calendars and teams"))
        )
    elif not isinstance(data, dict):
        message = _(
            "expected a mapping with calendars, teams and so on, got {got}", got=_show(data)
        )
        issues.append(CatalogIssue("(document)", message))
    else:
        try:
            catalog = Catalog.model_validate(data, context={_SKIP_CROSS_CHECKS: True})
        except ValidationError as exc:
            issues.extend(_issue(error) for error in exc.errors())
        issues.extend(_cross_check(data))
    if issues or catalog is None:
        raise CatalogError(file, sorted(dict.fromkeys(issues), key=_document_order))
    return catalog


def _document_order(issue: CatalogIssue) -> tuple[tuple[int, int | str], ...]:
    if issue.path.startswith("("):
        return ((-3, 0),)
    line = re.fullmatch(r"line (\d+), column (\d+)", issue.path)
    if line:
        return ((-2, int(line.group(1))), (0, int(line.group(2))))
    parts: list[tuple[int, int | str]] = []
    for index, name in re.findall(r"\[(\d+)\]|([^.\[\]]+)", issue.path):
        if index:
            parts.append((0, int(index)))
        elif not parts and name in Catalog.model_fields:
            parts.append((-1, list(Catalog.model_fields).index(name)))
        else:
            parts.append((1, name))
    return tuple(parts)


# --- YAML -----------------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """Safe YAML that reports duplicate keys, and where only true/false are booleans
    (so `country: NO` stays Norway and `yes`/`on` stay words)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[CatalogIssue] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                mark = key_node.start_mark
                self.duplicates.append(
                    CatalogIssue(
                        f"line {mark.line + 1}, column {mark.column + 1}",
                        _("'{key}' is given twice here; the last one would win", key=key[1]),
                    )
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _syntax_issue(exc: yaml.MarkedYAMLError) -> CatalogIssue:
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    if mark is None:
        return CatalogIssue("(file)", _("YAML syntax error: {problem}", problem=exc))
    problem = exc.problem or exc.context or str(exc)
    if exc.problem and exc.context and context is not None and context.line != mark.line:
        problem = f"{problem} ({exc.context} at line {context.line + 1})"
    return CatalogIssue(
        f"line {mark.line + 1}, column {mark.column + 1}",
        _("YAML syntax error: {problem}", problem=problem),
    )


def _read_yaml(text: str) -> tuple[object, list[CatalogIssue]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


# --- pydantic errors as an admin reads them -------------------------------------------------

_EXPECTED: Final[dict[str, str]] = {
    "string_type": N_("expected text, got {got}"),
    "int_type": N_("expected a whole number, got {got}"),
    "int_parsing": N_("expected a whole number, got {got}"),
    "int_from_float": N_("expected a whole number, got {got}"),
    "bool_type": N_("expected true or false, got {got}"),
    "bool_parsing": N_("expected true or false, got {got}"),
    "list_type": N_("expected a list, got {got}"),
    "dict_type": N_("expected a mapping of names to values, got {got}"),
    "model_type": N_("expected a mapping of names to values, got {got}"),
    "model_attributes_type": N_("expected a mapping of names to values, got {got}"),
    "date_type": N_("expected a date like 2026-12-24, got {got}"),
    "date_parsing": N_("expected a date like 2026-12-24, got {got}"),
    "date_from_datetime_parsing": N_("expected a date like 2026-12-24, got {got}"),
    "date_from_datetime_inexact": N_("expected a date like 2026-12-24, got {got}"),
    "greater_than_equal": N_("expected a number of at least {ge}, got {got}"),
    "less_than_equal": N_("expected a number of at most {le}, got {got}"),
    "string_too_long": N_("expected at most {max_length} characters"),
    "string_too_short": N_("expected some text, got {got}"),
}


def _show(value: object) -> str:
    if value is None:
        return _("nothing")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value if len(value) <= 40 else value[:37] + '...'}'"
    if isinstance(value, Mapping):
        return _("a mapping")
    if isinstance(value, list):
        return _("a list")
    return str(value)


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def _issue(error: ErrorDetails) -> CatalogIssue:
    return CatalogIssue(_path(error["loc"]), _describe(error))


def _describe(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    got = _show(error.get("input"))
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "missing":
        return _("expected a value here; this field is required")
    if kind == "extra_forbidden":
        name = error["loc"][-1] if error["loc"] else "?"
        fields = _fields_at(error["loc"][:-1])
        if fields:
            return _(
                "unknown field '{name}'; expected one of: {fields}",
                name=name,
                fields=", ".join(fields),
            )
        return _("unknown field '{name}'", name=name)
    if kind == "literal_error":
        return _("expected {expected}, got {got}", expected=ctx.get("expected", "?"), got=got)
    if kind == "too_short":
        count = int(ctx.get("min_length", 1))
        return ngettext("expected at least {n} entry", "expected at least {n} entries", count)
    if kind in _EXPECTED:
        return _(_EXPECTED[kind], got=got, **ctx)
    return _(error["msg"])


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names allowed at `loc` in the Catalog schema (for 'unknown field')."""
    current: Any = Catalog
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return []
            current = current.model_fields[part].annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` -> X."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


# --- rules across places --------------------------------------------------------------------

Items = list[tuple[int, Mapping[str, Any]]]


def _at(path: str, message: str, **params: object) -> CatalogIssue:
    return CatalogIssue(path, _(message, **params))


def _unknown_calendar(name: object, calendars: Mapping[str, object]) -> str:
    if not calendars:
        return _("unknown calendar '{name}'; no calendars are defined", name=name)
    choices = ", ".join(sorted(str(key) for key in calendars))
    return _("unknown calendar '{name}'; expected one of: {choices}", name=name, choices=choices)


def _cross_check(data: Mapping[str, Any]) -> list[CatalogIssue]:
    """Rules relating several places, over the raw document (whatever else is wrong)."""
    raw_calendars = data.get("calendars")
    calendars = raw_calendars if isinstance(raw_calendars, Mapping) else None
    built: dict[str, BusinessCalendar | None] = {}
    for name, raw in (calendars or {}).items():
        try:
            built[str(name)] = CalendarSpec.model_validate(raw).build()
        except ValueError:  # pydantic's ValidationError is one; reported on its own
            built[str(name)] = None
    teams = _items(data.get("teams"))
    return [
        *_check_people(_items(data.get("people"))),
        *_check_team_names(teams),
        *_check_team_rules(teams, calendars, built),
    ]


def _items(value: object) -> Items:
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, Mapping)]


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _check_people(people: Items) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    by_email: dict[str, tuple[int, Mapping[str, Any]]] = {}
    owners: dict[tuple[str, str], tuple[int, str]] = {}
    for index, person in people:
        email = (_text(person.get("email")) or "").lower()
        if email in by_email:
            first, earlier = by_email[email]
            for field, value in person.items():
                was = earlier.get(field)
                if field != "email" and None not in (value, was) and value != was:
                    issues.append(
                        _at(
                            f"people[{index}].{field}",
                            N_(
                                "{email} is already listed at people[{first}] with {field} "
                                "'{was}'; expected one entry per person"
                            ),
                            email=email,
                            first=first,
                            field=field,
                            was=was,
                        )
                    )
            continue
        if email:
            by_email[email] = (index, person)
        for platform, label in (("slack", "Slack"), ("teams", "Teams")):
            user_id = _text(person.get(platform))
            owner = owners.setdefault((platform, user_id or ""), (index, email))
            if user_id and email and owner[1] != email:
                issues.append(
                    _at(
                        f"people[{index}].{platform}",
                        N_("{platform} id {id} already belongs to {owner} (people[{first}])"),
                        platform=label,
                        id=user_id,
                        owner=owner[1],
                        first=owner[0],
                    )
                )
    return issues


def _check_team_names(teams: Items) -> list[CatalogIssue]:
    """Keys, aliases (case-insensitive) and request prefixes name one team each."""
    issues: list[CatalogIssue] = []
    keys: dict[str, int] = {}
    for index, team in teams:
        key = (_text(team.get("key")) or "").lower()
        first = keys.setdefault(key, index) if key else index
        if first != index:
            message = N_("team key '{key}' is already used by teams[{first}]")
            issues.append(_at(f"teams[{index}].key", message, key=key, first=first))
    names, prefixes = dict(keys), dict[str, int]()
    for index, team in teams:
        aliases = team.get("aliases")
        for position, alias in enumerate(aliases if isinstance(aliases, list) else []):
            word = (_text(alias) or "").lower()
            first = names.setdefault(word, index) if word else index
            if first != index:
                issues.append(
                    _at(
                        f"teams[{index}].aliases[{position}]",
                        N_(
                            "'{alias}' already names teams[{first}]; "
                            "expected a key or alias no other team uses"
                        ),
                        alias=alias,
                        first=first,
                    )
                )
        own_key = _text(team.get("key"))
        prefix = _text(team.get("prefix"))
        if prefix is None and own_key is not None and keys.get(own_key.lower()) == index:
            prefix = own_key  # a repeated key is reported once, on the key
        first = prefixes.setdefault(prefix.upper(), index) if prefix else index
        if prefix and first != index:
            issues.append(
                _at(
                    f"teams[{index}].prefix",
                    N_(
                        "request prefix '{prefix}' is already used by teams[{first}]; "
                        "expected a prefix of its own"
                    ),
                    prefix=prefix.upper(),
                    first=first,
                )
            )
    return issues


def _check_team_rules(
    teams: Items, calendars: Mapping[str, Any] | None, built: Mapping[str, BusinessCalendar | None]
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    for index, team in teams:
        here, name = f"teams[{index}]", team.get("calendar")
        calendar: BusinessCalendar | None = None
        if calendars is not None and isinstance(name, str):
            if name in calendars:
                calendar = built.get(name)
            else:
                issues.append(CatalogIssue(f"{here}.calendar", _unknown_calendar(name, calendars)))
        standards = team.get("standards")
        if isinstance(standards, Mapping) and "normal" not in standards:
            issues.append(_at(f"{here}.standards", _NEEDS_NORMAL))
        issues += _check_standards(here, standards, calendar)
        issues += _check_escalation(here, team, calendar)
    return issues


def _duration(value: object) -> BusinessDuration | None:
    if isinstance(value, BusinessDuration):
        return value
    try:
        return parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _compare(
    a: BusinessDuration, b: BusinessDuration, calendar: BusinessCalendar | None
) -> int | None:
    """-1, 0, 1 as a is shorter, equal, longer than b; None if only a lost calendar could tell."""
    if calendar is not None or "d" not in (a.unit, b.unit):
        plain = calendar or BusinessCalendar.twenty_four_seven()
        left, right = a.resolve(plain), b.resolve(plain)
    elif a.unit == b.unit:
        left, right = timedelta(a.amount), timedelta(b.amount)
    else:
        return None
    return (left > right) - (left < right)


def _check_standards(
    here: str, standards: object, calendar: BusinessCalendar | None
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    for priority, standard in standards.items() if isinstance(standards, Mapping) else ():
        if not isinstance(standard, Mapping):
            continue
        first = _duration(standard.get("first_response"))
        resolution = _duration(standard.get("resolution"))
        if first and resolution and _compare(first, resolution, calendar) == 1:
            issues.append(
                _at(
                    f"{here}.standards.{priority}.first_response",
                    N_(
                        "first response ({first}) is longer than resolution ({resolution}); "
                        "expected at most the resolution time"
                    ),
                    first=first,
                    resolution=resolution,
                )
            )
    return issues


def _check_escalation(
    here: str, team: Mapping[str, Any], calendar: BusinessCalendar | None
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    leads = team.get("leads")
    previous: BusinessDuration | None = None
    for index, step in _items(team.get("escalation")):
        after = _duration(step.get("after"))
        if after and previous and _compare(after, previous, calendar) in (-1, 0):
            issues.append(
                _at(
                    f"{here}.escalation[{index}].after",
                    N_(
                        "expected more than the step before ({previous}), got {after}; "
                        "steps go in increasing order"
                    ),
                    previous=previous,
                    after=after,
                )
            )
        previous = after or previous
        notify = step.get("notify")
        for position, ref in enumerate(notify if isinstance(notify, list) else []):
            if ref == "leads" and not (isinstance(leads, list) and leads):
                issues.append(
                    _at(
                        f"{here}.escalation[{index}].notify[{position}]",
                        N_("this team has no leads; expected leads: [...] on the team"),
                    )
                )
    return issues
