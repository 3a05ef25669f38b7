"""`inhouse catalog apply`: make the stored directory match a validated catalog.

One transaction; idempotent (a second apply of the same file changes nothing);
requests already filed keep the standard they were filed under, because it is
recorded on each request, not looked up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import catalog_cache
from handlers.insight_rollup import take_requester
from models.catalog import Catalog, PersonSpec, TeamSpec, classify_person_ref
from models.directory import (
    CalendarRow,
    DeskSettings,
    EscalationStep,
    Membership,
    Person,
    ServiceStandard,
    Team,
    TeamAlias,
)
from models.vocabulary import Priority, Role


@dataclass
class ApplyReport:
    """What changed, as `kind -> names`; empty when the catalog was already applied."""

    changes: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, name: str) -> None:
        self.changes.setdefault(kind, []).append(name)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


async def apply_catalog(session: AsyncSession, catalog: Catalog) -> ApplyReport:
    report = ApplyReport()
    calendars = await _apply_calendars(session, catalog, report)
    for person_spec in catalog.people:
        await _apply_person(session, person_spec, report)
    admins = {(await _person_for_ref(session, ref, report)).id for ref in catalog.admins}
    # Own hours are the catalog's alone (no chat profile knows them): whoever it
    # lists without a calendar, or no longer lists, follows the default again.
    own_hours = {
        spec.email.lower(): calendars[spec.calendar].id for spec in catalog.people if spec.calendar
    }
    for person in await session.scalars(select(Person)):
        if _set(person, is_admin=person.id in admins):
            report.note("admins", person.display_name)
        if _set(person, calendar_id=own_hours.get(person.email or "")):
            report.note("working hours changed", person.email or person.display_name)
    kept: set[str] = set()
    for spec in catalog.teams:
        await _apply_team(session, catalog, spec, calendars[spec.calendar], report)
        kept.add(spec.key)
    for team in await session.scalars(select(Team).where(Team.key.not_in(kept))):
        # Retired teams keep their history; they just stop taking requests.
        if _set(team, active=False):
            report.note("teams retired", team.key)
    await _apply_settings(session, catalog, calendars, report)
    await session.flush()
    # Serving processes keep teams, standards and calendars in memory: this tells
    # them (in this transaction, so only once it commits) to read them again.
    await catalog_cache.bump_generation(session)
    return report


async def _apply_calendars(
    session: AsyncSession, catalog: Catalog, report: ApplyReport
) -> dict[str, CalendarRow]:
    rows = {row.name: row for row in await session.scalars(select(CalendarRow))}
    for name, spec in catalog.calendars.items():
        stored = spec.model_dump(mode="json")
        row = rows.get(name)
        if row is None:
            rows[name] = row = CalendarRow(name=name, spec=stored)
            session.add(row)
            report.note("calendars added", name)
        elif _set(row, spec=stored):
            report.note("calendars changed", name)
    await session.flush()
    return rows


async def _apply_person(session: AsyncSession, spec: PersonSpec, report: ApplyReport) -> None:
    person = await session.scalar(select(Person).where(Person.email == spec.email.lower()))
    if person is None and spec.slack:
        person = await session.scalar(select(Person).where(Person.slack_user_id == spec.slack))
    if person is None and spec.teams:
        person = await session.scalar(select(Person).where(Person.teams_user_id == spec.teams))
    if person is None:
        person = Person(email=spec.email.lower(), display_name=spec.name or spec.email)
        session.add(person)
        report.note("people added", spec.email)
    # The catalog is the authority for what it says; it leaves the rest to chat
    # profiles, which keep a time zone or language it does not set current.
    values: dict[str, Any] = {
        "email": spec.email.lower(),
        "timezone_from_catalog": spec.timezone is not None,
        "language_from_catalog": spec.language is not None,
    }
    for column, value in (
        ("display_name", spec.name),
        ("department", spec.department),
        ("slack_user_id", spec.slack),
        ("teams_user_id", spec.teams),
        ("timezone", spec.timezone),
        ("language", spec.language),
    ):
        if value is not None:
            values[column] = value
    if person.id is not None and "department" in values and person.department != spec.department:
        # The matrix counts requests under the requester's department of today:
        # their figures before the move, read before the department changes.
        await take_requester(session, person.id)
    if _set(person, **values) and person.id is not None:
        report.note("people changed", spec.email)
    await session.flush()


async def _person_for_ref(session: AsyncSession, ref: str, report: ApplyReport) -> Person:
    kind, value = classify_person_ref(ref)
    column = {
        "email": Person.email,
        "slack": Person.slack_user_id,
        "teams": Person.teams_user_id,
    }[kind]
    person = await session.scalar(select(Person).where(column == value))
    if person is None:
        person = Person(display_name=value.split("@")[0] if kind == "email" else value)
        setattr(person, column.key, value)
        session.add(person)
        await session.flush()
        report.note("people added", value)
    return person


async def _apply_team(
    session: AsyncSession,
    catalog: Catalog,
    spec: TeamSpec,
    calendar: CalendarRow,
    report: ApplyReport,
) -> None:
    team = await session.scalar(select(Team).where(Team.key == spec.key))
    values: dict[str, Any] = {
        "name": spec.name,
        "prefix": spec.request_prefix,
        "calendar_id": calendar.id,
        "categories": list(spec.categories),
        "slack_channel": spec.slack_channel,
        "slack_workspace": spec.slack_workspace,
        "teams_channel": spec.teams_channel,
        "warn_at_percent": spec.warn_at,
        "language": spec.language,
        "active": True,
    }
    if team is None:
        team = Team(key=spec.key, last_number=0, **values)
        session.add(team)
        await session.flush()
        report.note("teams added", spec.key)
    elif _set(team, **values):
        report.note("teams changed", spec.key)
    await _apply_aliases(session, team, spec, report)
    await _apply_members(session, team, spec, report)
    business = catalog.calendar(spec.calendar)
    await _apply_standards(session, team, spec, business, report)
    await _apply_ladder(session, team, spec, business, report)


async def _apply_aliases(
    session: AsyncSession, team: Team, spec: TeamSpec, report: ApplyReport
) -> None:
    wanted = {a.lower() for a in spec.aliases}
    rows = list(await session.scalars(select(TeamAlias).where(TeamAlias.team_id == team.id)))
    for row in rows:
        if row.alias not in wanted:
            await session.delete(row)
            report.note("aliases removed", row.alias)
    await session.flush()
    for alias in sorted(wanted - {row.alias for row in rows}):
        session.add(TeamAlias(team_id=team.id, alias=alias))
        report.note("aliases added", alias)


async def _apply_members(
    session: AsyncSession, team: Team, spec: TeamSpec, report: ApplyReport
) -> None:
    wanted: set[tuple[int, Role]] = set()
    for role, refs in ((Role.MEMBER, spec.members), (Role.LEAD, spec.leads)):
        for ref in refs:
            wanted.add(((await _person_for_ref(session, ref, report)).id, role))
    rows = list(await session.scalars(select(Membership).where(Membership.team_id == team.id)))
    for row in rows:
        if (row.person_id, row.role) not in wanted:
            await session.delete(row)
            report.note("memberships removed", f"{team.key}:{row.person_id}:{row.role.value}")
    existing = {(row.person_id, row.role) for row in rows}
    for person_id, role in sorted(wanted - existing):
        session.add(Membership(team_id=team.id, person_id=person_id, role=role))
        report.note("memberships added", f"{team.key}:{person_id}:{role.value}")


async def _apply_standards(
    session: AsyncSession, team: Team, spec: TeamSpec, business: Any, report: ApplyReport
) -> None:
    rows = {
        row.priority: row
        for row in await session.scalars(
            select(ServiceStandard).where(ServiceStandard.team_id == team.id)
        )
    }
    for priority, standard in spec.standards.items():
        level = Priority(priority)
        values = {
            "first_response_seconds": int(
                standard.first_response.resolve(business).total_seconds()
            ),
            "resolution_seconds": int(standard.resolution.resolve(business).total_seconds()),
        }
        row = rows.pop(level, None)
        if row is None:
            session.add(ServiceStandard(team_id=team.id, priority=level, **values))
            report.note("standards added", f"{team.key}:{level.value}")
        elif _set(row, **values):
            report.note("standards changed", f"{team.key}:{level.value}")
    for row in rows.values():
        await session.delete(row)
        report.note("standards removed", f"{team.key}:{row.priority.value}")


async def _apply_ladder(
    session: AsyncSession, team: Team, spec: TeamSpec, business: Any, report: ApplyReport
) -> None:
    rows = {
        row.level: row
        for row in await session.scalars(
            select(EscalationStep).where(EscalationStep.team_id == team.id)
        )
    }
    for level, step in enumerate(spec.escalation, start=1):
        values = {
            "after_seconds": int(step.after.resolve(business).total_seconds()),
            "notify": list(step.notify),
            "urgent": step.urgent,
        }
        row = rows.pop(level, None)
        if row is None:
            session.add(EscalationStep(team_id=team.id, level=level, **values))
            report.note("ladder steps added", f"{team.key}:{level}")
        elif _set(row, **values):
            report.note("ladder steps changed", f"{team.key}:{level}")
    for row in rows.values():
        await session.delete(row)
        report.note("ladder steps removed", f"{team.key}:{row.level}")


async def _apply_settings(
    session: AsyncSession,
    catalog: Catalog,
    calendars: dict[str, CalendarRow],
    report: ApplyReport,
) -> None:
    default = catalog.default_calendar
    values = {
        "default_calendar_id": calendars[default].id if default else None,
        "survey_scale": catalog.survey.scale,
        "survey_reopen_below": catalog.survey.reopen_below,
        "auto_close_after": str(catalog.survey.auto_close_after),
        "recognition": catalog.recognition,
        "digest_day": catalog.digest.day,
        "digest_time": catalog.digest.time,
        "digest_slack_channel": catalog.digest.slack_channel,
        "digest_slack_workspace": catalog.digest.slack_workspace,
        "digest_teams_channel": catalog.digest.teams_channel,
    }
    settings = await session.get(DeskSettings, 1)
    if settings is None:
        session.add(DeskSettings(id=1, **values))
        report.note("settings", "survey")
    elif _set(settings, **values):
        report.note("settings", "survey")


def _set(row: object, **values: Any) -> bool:
    """Assign only what differs, so an unchanged catalog writes nothing."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed
