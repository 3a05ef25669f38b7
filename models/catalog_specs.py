"""The parts of the catalog schema: calendars, people, teams and their promises.

Shape and single-field rules live here; rules that relate several places run
over the raw document in `models.catalog_checks`.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Annotated, Final, cast
from zoneinfo import ZoneInfo

import holidays as holidays_lib
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from models.calendar import BusinessCalendar, HolidayRule, parse_hours
from models.catalog_errors import show_value
from models.catalog_fields import (
    Alias,
    ClockTime,
    Duration,
    Email,
    Label,
    LanguageTag,
    NotifyRef,
    Percent,
    PersonRef,
    Priority,
    PriorityKey,
    RequestPrefix,
    SlackChannelId,
    SlackUserId,
    SlackWorkspaceId,
    TeamKey,
    TeamsChannelId,
    TeamsUserId,
    TimeZoneName,
    Weekday,
)
from models.durations import BusinessDuration
from models.i18n import N_, _

CalendarName = Annotated[str, Field(min_length=1, max_length=64)]
NEEDS_NORMAL: Final = N_("expected a 'normal' standard; priorities without one fall back to it")


class Spec(BaseModel):
    """A part of the catalog: unknown fields are mistakes, and nothing changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@lru_cache(maxsize=1)
def _holiday_countries() -> dict[str, list[str]]:
    return holidays_lib.list_supported_countries()


class HolidaysSpec(Spec):
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


class CalendarSpec(Spec):
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
                got=show_value(data),
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


class PersonSpec(Spec):
    email: Email
    name: Label | None = None
    department: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    slack: SlackUserId | None = None
    teams: TeamsUserId | None = None
    timezone: TimeZoneName | None = None
    language: LanguageTag | None = None
    # The person's own working hours, a calendar of `calendars`: a non-urgent
    # escalation waits for them. Unset: the organisation's default (`default_calendar`).
    calendar: CalendarName | None = None


class StandardSpec(Spec):
    first_response: Duration
    resolution: Duration


class EscalationStepSpec(Spec):
    after: Duration
    notify: list[NotifyRef]
    urgent: bool = False

    @field_validator("notify")
    @classmethod
    def _someone(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(_("expected at least one person, leads or members to notify"))
        return value


class TeamSpec(Spec):
    key: TeamKey
    name: Label
    prefix: RequestPrefix | None = None
    aliases: list[Alias] = Field(default_factory=list)
    slack_channel: SlackChannelId | None = None
    # The workspace of slack_channel when several are installed (Slack team id, T…).
    slack_workspace: SlackWorkspaceId | None = None
    teams_channel: TeamsChannelId | None = None
    language: LanguageTag | None = None  # the team channel's language (default English)
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
            raise ValueError(_(NEEDS_NORMAL))
        return value

    @property
    def request_prefix(self) -> str:
        """What request keys start with: `IT` in `IT-42`."""
        return self.prefix or self.key.upper()

    def standard_for(self, priority: str) -> StandardSpec:
        """The standard for `priority`, or the team's `normal` one when it has none."""
        return self.standards.get(cast(Priority, str(priority))) or self.standards["normal"]


class SurveySpec(Spec):
    scale: int = Field(default=5, ge=2, le=10)
    reopen_below: int = 3
    auto_close_after: Duration = BusinessDuration(3, "d")

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


class DigestSpec(Spec):
    """The weekly digest: each team's week in its channel, at `time` on `day` in the
    team calendar's time zone; and an organisation-wide summary (the
    department-pair matrix and recognitions) in an optional digest channel."""

    day: Weekday = "mon"
    time: ClockTime = "09:00"
    slack_channel: SlackChannelId | None = None
    slack_workspace: SlackWorkspaceId | None = None
    teams_channel: TeamsChannelId | None = None
