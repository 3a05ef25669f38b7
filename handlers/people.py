"""Who is acting: find or enrol the person behind a chat identity, and their roles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import catalog_cache, people_cache
from handlers.errors import NotFound
from models.directory import Membership, Person, Team
from models.i18n import N_
from models.vocabulary import Role


@dataclass(frozen=True)
class Identity:
    """What a channel knows about the person at the keyboard."""

    email: str | None = None
    slack_user_id: str | None = None
    # The Slack workspace (team id) the slack_user_id belongs to, when known.
    slack_workspace: str | None = None
    teams_user_id: str | None = None
    display_name: str | None = None
    timezone: str | None = None
    language: str | None = None


async def resolve_person(session: AsyncSession, identity: Identity) -> Person:
    """The stored person for this identity; enrols a newcomer and fills profile gaps.

    People are matched by any platform id first, then by email, so a person who
    uses Slack and Teams is one person with one history. Someone who acted here a
    moment ago is not read again (handlers.people_cache says for how long).
    """
    generation = (await catalog_cache.current(session)).generation
    known = people_cache.attach(session, identity, generation)
    if known is not None:
        return known
    person = await _match(session, identity)
    if person is None:
        if (
            identity.email is None
            and identity.slack_user_id is None
            and (identity.teams_user_id is None)
        ):
            raise NotFound(N_("I don't know who you are."))
        person = Person(display_name=identity.display_name or identity.email or "?")
        session.add(person)
    _fill_gaps(person, identity)
    await session.flush()
    people_cache.remember(session, identity, person, generation)
    return person


async def _match(session: AsyncSession, identity: Identity) -> Person | None:
    for column, value in (
        (Person.slack_user_id, identity.slack_user_id),
        (Person.teams_user_id, identity.teams_user_id),
        (Person.email, identity.email.lower() if identity.email else None),
    ):
        if value is None:
            continue
        found = await session.scalar(select(Person).where(column == value))
        if found is not None:
            return found
    return None


def _fill_gaps(person: Person, identity: Identity) -> None:
    # The catalog is the authority; a chat profile only fills what it left empty,
    # except time zone and language, which follow the profile (people travel and
    # switch languages) unless the catalog sets them.
    if identity.email and not person.email:
        person.email = identity.email.lower()
    if identity.slack_user_id and not person.slack_user_id:
        person.slack_user_id = identity.slack_user_id
    if identity.slack_workspace and identity.slack_user_id == person.slack_user_id:
        # Where Slack says the person is: a fact, not a gap (the catalog names no workspace).
        person.slack_workspace = identity.slack_workspace
    if identity.teams_user_id and not person.teams_user_id:
        person.teams_user_id = identity.teams_user_id
    if identity.display_name and person.display_name in ("?", person.email):
        person.display_name = identity.display_name
    if identity.timezone and not person.timezone_from_catalog:
        person.timezone = identity.timezone
    if identity.language and not person.language_from_catalog:
        person.language = identity.language


async def find_person_by_email(session: AsyncSession, email: str) -> Person:
    person = await session.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None:
        raise NotFound(N_("Nobody with the address {email} is known here."), email=email)
    return person


async def team_roles(session: AsyncSession, team_id: int, person_id: int) -> set[Role]:
    rows = await session.scalars(
        select(Membership.role).where(
            Membership.team_id == team_id, Membership.person_id == person_id
        )
    )
    return set(rows)


async def is_on_team(session: AsyncSession, team_id: int, person_id: int) -> bool:
    return bool(await team_roles(session, team_id, person_id))


async def teams_of(session: AsyncSession, person_id: int) -> list[Team]:
    rows = await session.scalars(
        select(Team)
        .where(
            Team.id.in_(select(Membership.team_id).where(Membership.person_id == person_id)),
            Team.active.is_(True),
        )
        .order_by(Team.key)
    )
    return list(rows.unique())


async def led_teams(session: AsyncSession, person_id: int) -> frozenset[str]:
    """The keys of the teams this person leads."""
    rows = await session.scalars(
        select(Team.key)
        .join(Membership, Membership.team_id == Team.id)
        .where(Membership.person_id == person_id, Membership.role == Role.LEAD)
    )
    return frozenset(rows)


async def people_with_role(session: AsyncSession, team_id: int, role: Role) -> list[Person]:
    rows = await session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.team_id == team_id, Membership.role == role)
        .order_by(Person.id)
    )
    return list(rows)


async def remember_slack_id(
    session: AsyncSession, person_id: int, slack_user_id: str, workspace: str | None = None
) -> None:
    """A catalog person found in Slack (by email, or in one of several workspaces):
    keep the id and its workspace so we ask only once."""
    person = await session.get(Person, person_id)
    if person is None:
        return
    if not person.slack_user_id:
        person.slack_user_id = slack_user_id
    if workspace and person.slack_user_id == slack_user_id:
        person.slack_workspace = workspace


async def team_members(session: AsyncSession, team_id: int) -> list[Person]:
    """Everyone on a team (members and leads), by name."""
    rows = await session.scalars(
        select(Person)
        .where(Person.id.in_(select(Membership.person_id).where(Membership.team_id == team_id)))
        .order_by(Person.display_name)
    )
    return list(rows)
