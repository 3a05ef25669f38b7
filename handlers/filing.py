"""Filing a request: the promise starts here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import catalog_cache, insight_rollup, notices, sla
from handlers.access import record
from handlers.catalog_cache import CachedTeam
from handlers.errors import InvalidInput, UnknownTeam, within_limit
from models.clock import Clock
from models.directory import Person, Team
from models.i18n import N_
from models.requests import CATEGORY_MAX, DESCRIPTION_MAX, TITLE_MAX, Request
from models.vocabulary import Priority, Status


@dataclass(frozen=True)
class Filed:
    request: Request
    # False when this was a platform retry of a request already filed.
    created: bool


async def file_request(
    session: AsyncSession,
    clock: Clock,
    actor: Person,
    *,
    team: str,
    title: str,
    description: str = "",
    category: str | None = None,
    priority: str = Priority.NORMAL.value,
    source_ref: str | None = None,
) -> Filed:
    if source_ref is not None:
        earlier = await session.scalar(select(Request).where(Request.source_ref == source_ref))
        if earlier is not None:
            return Filed(earlier, created=False)

    catalog = await catalog_cache.current(session)
    chosen = await _team(session, team, catalog)
    clean_title = _title(title)
    clean_description = _description(description)
    clean_category = _category(chosen, category)
    clean_priority = _priority(priority)
    first_response, resolution = _standard(chosen, clean_priority)

    # Every refusal is above this line: the counter is the first write, so a
    # refused filing writes nothing and needs no savepoint to undo it
    # (bot.commands.needs_savepoint).
    now = clock.now()
    number = await _next_number(session, chosen)
    owning_team = catalog_cache.attach(session, chosen)
    request = Request(
        key=f"{chosen.prefix}-{number}",
        team_id=chosen.id,
        number=number,
        requester_id=actor.id,
        category=clean_category,
        priority=clean_priority,
        title=clean_title,
        description=clean_description,
        status=Status.OPEN,
        source_ref=source_ref,
        slack_workspace=actor.slack_workspace,
        created_at=now,
        # What `record` sets below, set before the insert so that nothing is
        # left to UPDATE after it: the sweep plans the new request at once.
        next_check_at=now,
    )
    sla.start_clocks(request, now, first_response, resolution, chosen.calendar)
    # The team and the requester are at hand; setting them saves a reload.
    request.team, request.requester, request.assignee = owning_team, actor, None
    session.add(request)
    await session.flush()
    insight_rollup.created(session, request)
    record(
        session,
        request,
        actor,
        "filed",
        now,
        priority=clean_priority.value,
        category=clean_category,
        first_response_seconds=request.first_response_target_seconds,
        resolution_seconds=request.resolution_target_seconds,
    )
    notices.to_team(session, request, notices.NoticeKind.TEAM_CARD, now)
    return Filed(request, created=True)


async def _team(
    session: AsyncSession, name: str, catalog: catalog_cache.Catalog | None = None
) -> CachedTeam:
    """The active team with this key or alias (case-insensitive)."""
    wanted = name.strip().lower()
    catalog = catalog or await catalog_cache.current(session)
    found = catalog.by_name.get(wanted) if wanted else None
    if found is None and wanted:
        # Not in this process's copy: perhaps added a moment ago elsewhere.
        catalog = await catalog_cache.fresh(session)
        found = catalog.by_name.get(wanted)
    if found is None:
        raise _no_team(name, catalog)
    return found


def _no_team(name: str, catalog: catalog_cache.Catalog) -> UnknownTeam:
    choices = [t.key for t in catalog.active()]
    if not name.strip():
        return UnknownTeam(
            N_("Which team? Choose one of: {teams}."), choices, teams=", ".join(choices)
        )
    return UnknownTeam(
        N_("There is no team called '{name}'. Choose one of: {teams}."),
        choices,
        name=name.strip(),
        teams=", ".join(choices),
    )


def _title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise InvalidInput(N_("Say in a few words what you need."), field="title")
    return within_limit(
        cleaned,
        TITLE_MAX,
        field="title",
        too_long=N_("The title is {length} characters long; the limit is {limit}."),
    )


def _description(description: str) -> str:
    return within_limit(
        description.strip(),
        DESCRIPTION_MAX,
        field="description",
        too_long=N_("The description is {length} characters long; the limit is {limit}."),
    )


def _category(team: Team | CachedTeam, category: str | None) -> str | None:
    if category is None or not category.strip():
        return None
    wanted = category.strip().lower()
    for known in team.categories:
        if known.lower() == wanted:
            return known
    if not team.categories and len(category) <= CATEGORY_MAX:
        return category.strip()
    raise InvalidInput(
        N_("{team} has no category '{category}'. Choose one of: {choices}."),
        field="category",
        team=team.name,
        category=category.strip(),
        choices=", ".join(team.categories),
    )


def _priority(priority: str) -> Priority:
    try:
        return Priority(priority.strip().lower())
    except ValueError:
        raise InvalidInput(
            N_("There is no priority '{priority}'. Choose one of: {choices}."),
            field="priority",
            priority=priority,
            choices=", ".join(p.value for p in Priority),
        ) from None


# The console's step-by-step form checks each answer as it is given (and asks
# again), by the very rules filing applies.
check_team = _team
check_title = _title
check_description = _description
check_category = _category
check_priority = _priority


async def standard_for(
    session: AsyncSession, team: Team, priority: Priority
) -> tuple[timedelta, timedelta]:
    """The team's standard for a priority; teams that don't set one use `normal`."""
    catalog = await catalog_cache.current(session)
    cached = catalog.by_id.get(team.id)
    if cached is None:
        cached = (await catalog_cache.fresh(session)).by_id[team.id]
    return _standard(cached, priority)


def _standard(team: CachedTeam, priority: Priority) -> tuple[timedelta, timedelta]:
    chosen = team.standards.get(priority) or team.standards.get(Priority.NORMAL)
    if chosen is None:
        raise InvalidInput(N_("{team} has not published a service standard yet."), team=team.name)
    return (
        timedelta(seconds=chosen.first_response_seconds),
        timedelta(seconds=chosen.resolution_seconds),
    )


_teams = cast(Table, Team.__table__)
# Built once (one per filing): see handlers/outbox_leases.py on prepared statements.
_NEXT_NUMBER = (
    update(_teams)
    .where(_teams.c.id == bindparam("team_id"), _teams.c.active.is_(True))
    .values(last_number=_teams.c.last_number + 1)
    .returning(_teams.c.last_number, catalog_cache.generation_now())
)


async def _next_number(session: AsyncSession, team: CachedTeam) -> int:
    """The team's next request number: the one state every process shares, so it is
    taken in the database, never from the copy. A team retired since this process
    last looked at the catalog takes no number: the filing is refused (nothing is
    written: the UPDATE matched no row).

    The same statement returns the catalog's generation, so a process that files
    keeps its copy checked without a statement of its own (catalog_cache.seen)."""
    asked_at = time.monotonic()
    taken = (await session.execute(_NEXT_NUMBER, {"team_id": team.id})).one_or_none()
    if taken is None:
        raise _no_team(team.key, await catalog_cache.fresh(session))
    number, generation = taken
    catalog_cache.seen(session, generation, asked_at)
    return int(number)
