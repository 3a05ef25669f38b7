"""Teams, their service standards and calendars, kept in the serving process.

Filing a request needs its team (by key or alias), the team's standard for the
priority and its calendar. They change only when someone runs `inhouse catalog
apply`, yet reading them cost three statements of every filing. So each process
keeps them in memory, as plain frozen values (no ORM instance shared between
sessions, nothing that could write through), one copy per engine (per database).

How fresh: `catalog apply` bumps `catalog_generation` in its own transaction, in
whatever process it runs (usually not the serving one; several replicas may share
one PostgreSQL). A copy last checked more than REVALIDATE_SECONDS ago is compared
with that number (one SELECT) before it is used, and loaded again if the number
moved. Each filing's counter statement returns the number too (`seen`), so a
process that keeps filing keeps its copy checked for free, and the filing after
the one that saw a new number loads the new catalog. An apply on the same engine
(one process: the demo, tests) drops that engine's copy when it commits.

So a serving process files under an applied catalog at most REVALIDATE_SECONDS
after the apply committed (docs/architecture.md, "Catalog in memory"). Two things
never wait for that: a team's number counter stays in the database (handlers.filing
takes it with one `UPDATE ... RETURNING`, which also refuses a team retired
meanwhile), and a team name the copy does not know is looked up again before it
is refused.
"""

from __future__ import annotations

import copy
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.selectable import ScalarSelect

from models.calendar import BusinessCalendar
from models.directory import (
    CalendarRow,
    CatalogGeneration,
    ServiceStandard,
    Team,
    TeamAlias,
)
from models.stored_calendar import calendar_from_spec
from models.vocabulary import Priority

# The longest a serving process goes on filing under a catalog that was replaced
# (docs/architecture.md, "Catalog in memory").
REVALIDATE_SECONDS = 1.0


@dataclass(frozen=True)
class Standard:
    first_response_seconds: int
    resolution_seconds: int


@dataclass(frozen=True)
class CachedTeam:
    """A team as the catalog last set it (not its number counter: that is shared)."""

    id: int
    key: str
    name: str
    prefix: str
    categories: tuple[str, ...]
    slack_channel: str | None
    slack_workspace: str | None
    teams_channel: str | None
    warn_at_percent: int
    language: str | None
    active: bool
    calendar_id: int
    calendar_name: str
    # The stored JSON of the calendar, for a session's own Team row (`attach`).
    calendar_spec: Mapping[str, Any]
    calendar: BusinessCalendar
    standards: Mapping[Priority, Standard]


@dataclass(frozen=True)
class Catalog:
    generation: int
    # Active teams by lower-case key and alias.
    by_name: Mapping[str, CachedTeam]
    # Every team, retired ones too (their requests still change priority).
    by_id: Mapping[int, CachedTeam]

    def active(self) -> list[CachedTeam]:
        return sorted({t.id: t for t in self.by_name.values()}.values(), key=lambda t: t.key)


class _Copy:
    """One engine's copy and when it was last compared with the database."""

    def __init__(self) -> None:
        self.catalog: Catalog | None = None
        self.checked_at = float("-inf")


_copies: weakref.WeakKeyDictionary[Engine, _Copy] = weakref.WeakKeyDictionary()


def _copy(session: AsyncSession) -> _Copy:
    bind = session.get_bind()
    engine: Engine = bind.engine
    found = _copies.get(engine)
    if found is None:
        found = _copies[engine] = _Copy()
    return found


async def current(session: AsyncSession) -> Catalog:
    """This process's copy of the catalog, renewed if the database has a newer one
    (looked at no more than once every REVALIDATE_SECONDS)."""
    kept = _copy(session)
    now = time.monotonic()
    if kept.catalog is not None and now - kept.checked_at < REVALIDATE_SECONDS:
        return kept.catalog
    generation = await _generation(session)
    catalog = kept.catalog
    if catalog is None or catalog.generation != generation:
        # The generation is read before the rows: an apply committing in between
        # leaves a copy labelled older than it is, which the next look renews.
        catalog = kept.catalog = await _load(session, generation)
    kept.checked_at = now
    return catalog


def generation_now() -> ScalarSelect[int]:
    """The database's generation, for a statement to return in passing (`seen`)."""
    return select(CatalogGeneration.generation).where(CatalogGeneration.id == 1).scalar_subquery()


def seen(session: AsyncSession, generation: int | None, asked_at: float) -> None:
    """The database's generation, read in passing by a statement sent at `asked_at`
    (time.monotonic()): a copy that has it counts as checked then; one that has not
    is loaded again next time."""
    kept = _copy(session)
    if kept.catalog is not None and kept.catalog.generation == int(generation or 0):
        kept.checked_at = max(kept.checked_at, asked_at)
    else:
        kept.catalog = None


async def fresh(session: AsyncSession) -> Catalog:
    """The catalog as the database has it now: before refusing a name the copy does
    not know (a team added by another process a moment ago)."""
    _copy(session).catalog = None
    return await current(session)


def forget_after_commit(session: AsyncSession) -> None:
    """Drop this engine's copy now, and again when this session's transaction ends:
    a filing in another session meanwhile may have loaded the catalog as it was.
    (Other engines, like other processes, see the new generation.)"""
    kept = _copy(session)
    kept.catalog = None

    def ended(_session: Session, *_args: Any) -> None:
        kept.catalog = None

    sync = session.sync_session
    event.listen(sync, "after_commit", ended, once=True)
    event.listen(sync, "after_soft_rollback", ended, once=True)


async def bump_generation(session: AsyncSession) -> None:
    """Tell every process that the catalog changed (in the apply's transaction)."""
    bumped = await session.scalar(
        update(CatalogGeneration)
        .where(CatalogGeneration.id == 1)
        .values(generation=CatalogGeneration.generation + 1)
        .returning(CatalogGeneration.generation)
        .execution_options(synchronize_session=False)
    )
    if bumped is None:
        # A database whose schema was made without the migration's row.
        session.add(CatalogGeneration(id=1, generation=1))
        await session.flush()
    forget_after_commit(session)


def attach(session: AsyncSession, team: CachedTeam) -> Team:
    """The session's own Team row for a cached team, without a query: the request
    being filed refers to it, and its notices show it. A fresh instance for each
    session (the copy is never attached anywhere); one the session already holds is
    used as it is."""
    sync = session.sync_session
    held = sync.identity_map.get(identity_key(Team, team.id))
    if held is not None:
        assert isinstance(held, Team)
        return held
    calendar = CalendarRow(id=team.calendar_id, name=team.calendar_name)
    calendar.spec = copy.deepcopy(dict(team.calendar_spec))
    make_transient_to_detached(calendar)
    row = Team(
        id=team.id,
        key=team.key,
        name=team.name,
        prefix=team.prefix,
        calendar_id=team.calendar_id,
        categories=list(team.categories),
        slack_channel=team.slack_channel,
        slack_workspace=team.slack_workspace,
        teams_channel=team.teams_channel,
        warn_at_percent=team.warn_at_percent,
        language=team.language,
        active=team.active,
    )
    row.calendar = calendar
    # As if loaded from the database (its counter left unloaded: it lives there);
    # merging without loading adds it to the session as it is, with no statement.
    make_transient_to_detached(row)
    return sync.merge(row, load=False)


async def _generation(session: AsyncSession) -> int:
    found = await session.scalar(
        select(CatalogGeneration.generation).where(CatalogGeneration.id == 1)
    )
    return int(found or 0)


async def _load(session: AsyncSession, generation: int) -> Catalog:
    teams_t, aliases_t = Team.__table__, TeamAlias.__table__
    calendars_t, standards_t = CalendarRow.__table__, ServiceStandard.__table__
    # Core rows, not ORM entities: nothing lands in the caller's session.
    calendars = {row.id: row for row in await session.execute(select(calendars_t))}
    standards: dict[int, dict[Priority, Standard]] = {}
    for row in await session.execute(select(standards_t)):
        standards.setdefault(row.team_id, {})[Priority(row.priority)] = Standard(
            row.first_response_seconds, row.resolution_seconds
        )
    by_id: dict[int, CachedTeam] = {}
    for row in await session.execute(select(teams_t)):
        calendar = calendars[row.calendar_id]
        spec = MappingProxyType(dict(calendar.spec))
        by_id[row.id] = CachedTeam(
            id=row.id,
            key=row.key,
            name=row.name,
            prefix=row.prefix,
            categories=tuple(row.categories or ()),
            slack_channel=row.slack_channel,
            slack_workspace=row.slack_workspace,
            teams_channel=row.teams_channel,
            warn_at_percent=row.warn_at_percent,
            language=row.language,
            active=bool(row.active),
            calendar_id=calendar.id,
            calendar_name=calendar.name,
            calendar_spec=spec,
            calendar=calendar_from_spec(dict(spec)),
            standards=MappingProxyType(standards.get(row.id, {})),
        )
    by_name = {t.key.lower(): t for t in by_id.values() if t.active}
    for row in await session.execute(select(aliases_t.c.team_id, aliases_t.c.alias)):
        team = by_id.get(row.team_id)
        # A team's key wins over another team's alias, as find_team looks keys up first.
        if team is not None and team.active:
            by_name.setdefault(row.alias.lower(), team)
    return Catalog(generation, MappingProxyType(by_name), MappingProxyType(by_id))
