"""Filing a request: the promise starts here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import insight_rollup, notices, sla
from handlers.access import active_teams, find_team, record, team_calendar
from handlers.errors import InvalidInput, UnknownTeam, within_limit
from models.clock import Clock
from models.directory import Person, ServiceStandard, Team
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

    owning_team = await _team(session, team)
    clean_title = _title(title)
    clean_description = _description(description)
    clean_category = _category(owning_team, category)
    clean_priority = _priority(priority)
    first_response, resolution = await standard_for(session, owning_team, clean_priority)

    now = clock.now()
    number = await _next_number(session, owning_team)
    request = Request(
        key=f"{owning_team.prefix}-{number}",
        team_id=owning_team.id,
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
    )
    sla.start_clocks(request, now, first_response, resolution, team_calendar(owning_team))
    # The team and the requester are loaded already; setting them saves a reload.
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


async def _team(session: AsyncSession, name: str) -> Team:
    found = await find_team(session, name)
    if found is None:
        choices = [t.key for t in await active_teams(session)]
        if not name.strip():
            raise UnknownTeam(
                N_("Which team? Choose one of: {teams}."), choices, teams=", ".join(choices)
            )
        raise UnknownTeam(
            N_("There is no team called '{name}'. Choose one of: {teams}."),
            choices,
            name=name.strip(),
            teams=", ".join(choices),
        )
    return found


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


def _category(team: Team, category: str | None) -> str | None:
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
    rows = {
        s.priority: s
        for s in await session.scalars(
            select(ServiceStandard).where(ServiceStandard.team_id == team.id)
        )
    }
    chosen = rows.get(priority) or rows.get(Priority.NORMAL)
    if chosen is None:
        raise InvalidInput(N_("{team} has not published a service standard yet."), team=team.name)
    return (
        timedelta(seconds=chosen.first_response_seconds),
        timedelta(seconds=chosen.resolution_seconds),
    )


async def _next_number(session: AsyncSession, team: Team) -> int:
    number = await session.scalar(
        update(Team)
        .where(Team.id == team.id)
        .values(last_number=Team.last_number + 1)
        .returning(Team.last_number)
    )
    assert number is not None
    return int(number)
