"""Loading a request for an action, and the permission checks every action shares."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import insight_rollup
from handlers.errors import InvalidInput, NotFound, PermissionDenied
from handlers.people import is_on_team
from models.calendar import BusinessCalendar
from models.directory import Person, Team, TeamAlias
from models.i18n import N_
from models.requests import Request, RequestEvent
from models.stored_calendar import calendar_from_spec

log = logging.getLogger(__name__)


# One answer for a key that does not exist and a key the reader may not see, so
# walking IT-1, IT-2, ... tells an outsider nothing about who asked for what.
UNSEEN = N_("There is no request {key} that you can see.")


async def load_request(
    session: AsyncSession, key: str, actor: Person, *, for_update: bool = True
) -> Request:
    """The request with this key (case-insensitive), if `actor` may see it,
    locked for the caller's change.

    Requests can be personal (HR, payroll): only the requester, the serving team
    and desk admins may see one; for anyone else it does not exist. The row lock
    serialises two people acting on one request at once (PostgreSQL); SQLite
    serialises writers anyway.
    """
    cleaned = key.strip().upper()
    if not cleaned:
        raise InvalidInput(N_("Which request? Give its key, like IT-42."), field="key")
    query = select(Request).where(Request.key == cleaned)
    if for_update:
        query = query.with_for_update(of=Request)
    found = await session.scalar(query)
    if found is None or not await _can_see(session, found, actor):
        raise NotFound(UNSEEN, key=cleaned)
    if for_update:
        # Locked for a change: what it counts in the insight rollups before it.
        await insight_rollup.take(session, [found])
    return found


async def _can_see(session: AsyncSession, request: Request, actor: Person) -> bool:
    return (
        request.requester_id == actor.id
        or actor.is_admin
        or await is_on_team(session, request.team_id, actor.id)
    )


async def require_team_member(session: AsyncSession, request: Request, actor: Person) -> None:
    """For a request the actor can see (`load_request`): only its team acts on it."""
    if not await is_on_team(session, request.team_id, actor.id):
        raise PermissionDenied(N_("Only {team} can do that."), team=request.team.name)


def require_requester(request: Request, actor: Person) -> None:
    """For a request the actor can see (`load_request`): only its requester answers
    the survey, reopens or closes it."""
    if request.requester_id != actor.id:
        raise PermissionDenied(N_("Only the person who filed {key} can do that."), key=request.key)


def record(
    session: AsyncSession,
    request: Request,
    actor: Person | None,
    kind: str,
    at: Any,
    **data: Any,
) -> None:
    """Append to the audit log, and have the SLA sweep re-plan the request (see
    `noted`)."""
    session.add(RequestEvent(**noted(session, request, actor, kind, at, **data)))


def noted(
    session: AsyncSession,
    request: Request,
    actor: Person | None,
    kind: str,
    at: Any,
    **data: Any,
) -> dict[str, Any]:
    """`record` without adding the event: its row's values, for a caller that
    inserts many events in one statement (the SLA sweep).

    Every change writes an event, and any change may move a milestone (a claim
    ends the first-response clock, a pause stops the ladder, a resolution starts
    the survey's), so rather than work out which, the sweep looks again now.
    The request must have been taken for the change (`load_request`, or
    `insight_rollup.take` / `created`): the commit adds what it changed to the
    insight rollups.
    """
    request.next_check_at = None if request.status == "closed" else at
    insight_rollup.require_taken(session, request)
    log.info(
        "request %s",
        kind,
        extra={
            "request": request.key,
            "event": kind,
            "status": str(request.status),
            # The person's id, not their name: logs carry no personal text.
            "actor": actor.id if actor else None,
        },
    )
    return {
        "request_id": request.id,
        "actor_id": actor.id if actor else None,
        "kind": kind,
        "at": at,
        "data": data,
    }


def team_calendar(team: Team) -> BusinessCalendar:
    return calendar_from_spec(team.calendar.spec)


async def find_team(session: AsyncSession, name: str) -> Team | None:
    """A team by key or alias, case-insensitive; None when there is no such team."""
    wanted = name.strip().lower()
    if not wanted:
        return None
    team = await session.scalar(
        select(Team).where(func.lower(Team.key) == wanted, Team.active.is_(True))
    )
    if team is not None:
        return team
    return await session.scalar(
        select(Team)
        .join(TeamAlias, TeamAlias.team_id == Team.id)
        .where(func.lower(TeamAlias.alias) == wanted, Team.active.is_(True))
    )


async def active_teams(session: AsyncSession) -> list[Team]:
    rows = await session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.key))
    return list(rows.unique())
