"""Who serves whom: people, teams, roles, calendars, standards and ladders.

These rows mirror the catalog (`inhouse catalog apply`) plus what chat profiles
teach us about people (platform ids, time zone, language).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.vocabulary import Priority, Role


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    # The Slack workspace (team id, T…) of slack_user_id: whose bot token reaches them.
    slack_workspace: Mapped[str | None] = mapped_column(String(32))
    teams_user_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # The person's own working hours (the catalog's `people: - {calendar: ...}`):
    # when a non-urgent escalation may reach them. None: the organisation's default.
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"))
    # Whether the catalog set the time zone / language: then it stays as the catalog
    # says; otherwise the person's chat profile keeps it current (handlers.people).
    timezone_from_catalog: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    language_from_catalog: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class CalendarRow(Base):
    """A named business-hours calendar; `spec` is the catalog's validated form."""

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    spec: Mapped[dict[str, Any]]


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    # The Slack workspace of slack_channel (None: the only one installed).
    slack_workspace: Mapped[str | None] = mapped_column(String(32))
    teams_channel: Mapped[str | None] = mapped_column(String(200))
    warn_at_percent: Mapped[int] = mapped_column(Integer, default=75)
    # The language of the team's channel (its cards and digests); None = English.
    language: Mapped[str | None] = mapped_column(String(16))
    # Request keys are PREFIX-n; the counter lives on the team row so that taking
    # the next number is one atomic UPDATE ... RETURNING on every database.
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    calendar: Mapped[CalendarRow] = relationship(lazy="joined")
    # Loaded only on purpose (catalog apply queries TeamAlias itself): loading it with
    # every team would cost a query on the busiest path, filing a request.
    aliases: Mapped[list[TeamAlias]] = relationship(
        back_populates="team", cascade="all, delete-orphan", lazy="raise"
    )


class TeamAlias(Base):
    __tablename__ = "team_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(64), unique=True)

    team: Mapped[Team] = relationship(back_populates="aliases")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("team_id", "person_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(SAEnum(Role, native_enum=False, length=16))


class ServiceStandard(Base):
    """A team's promise for one priority, in business seconds of its calendar."""

    __tablename__ = "service_standards"
    __table_args__ = (UniqueConstraint("team_id", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    priority: Mapped[Priority] = mapped_column(SAEnum(Priority, native_enum=False, length=16))
    first_response_seconds: Mapped[int]
    resolution_seconds: Mapped[int]


class EscalationStep(Base):
    """One rung of a team's ladder: `after` business seconds past the lapse, notify these."""

    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("team_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    level: Mapped[int]
    after_seconds: Mapped[int]
    notify: Mapped[list[str]] = mapped_column(JSON)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)


class DeskSettings(Base):
    """Desk-wide settings from the catalog (one row)."""

    __tablename__ = "desk_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_scale: Mapped[int] = mapped_column(Integer, default=5)
    survey_reopen_below: Mapped[int] = mapped_column(Integer, default=3)
    auto_close_after: Mapped[str] = mapped_column(String(16), default="3d")
    recognition: Mapped[bool] = mapped_column(Boolean, default=False)
    # The weekly digest: weekday (mon..sun) and time in each team calendar's zone,
    # and where the organisation-wide summary goes (if anywhere).
    digest_day: Mapped[str] = mapped_column(String(3), default="mon", server_default="mon")
    digest_time: Mapped[str] = mapped_column(String(5), default="09:00", server_default="09:00")
    digest_slack_channel: Mapped[str | None] = mapped_column(String(64))
    digest_slack_workspace: Mapped[str | None] = mapped_column(String(32))
    digest_teams_channel: Mapped[str | None] = mapped_column(String(200))
    # The catalog's `default_calendar`: working hours of people without their own.
    default_calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"))


class CatalogGeneration(Base):
    """How many times the catalog has been applied (one row).

    Serving processes keep teams, standards and calendars in memory
    (handlers.catalog_cache) and compare this number, at most once a second, with
    the one they loaded: `catalog apply` bumps it in its own transaction, from
    whichever process it runs in.
    """

    __tablename__ = "catalog_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
