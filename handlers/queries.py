"""Reading the desk: my requests, a team's queue, one request's story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import sla
from handlers.access import (
    find_team,
    load_request,
    require_team_member,
    team_calendar,
)
from handlers.errors import NotFound, PermissionDenied, UnknownTeam
from handlers.people import is_on_team, teams_of
from models.clock import Clock
from models.directory import Membership, Person, Team
from models.i18n import N_
from models.requests import Request, RequestEvent, Survey
from models.vocabulary import ACTIVE_STATUSES, Status


@dataclass(frozen=True)
class QueueItem:
    request: Request
    # Business time left on the clock that matters now (negative once lapsed);
    # None while the request waits on its requester.
    time_left: timedelta | None


@dataclass(frozen=True)
class Queue:
    team: Team
    items: list[QueueItem]


@dataclass(frozen=True)
class RequestStory:
    request: Request
    time_left: timedelta | None
    events: list[tuple[RequestEvent, str | None]]  # event and the actor's name
    survey: Survey | None
    now: datetime  # when it was read: instants are shown relative to it


async def my_requests(session: AsyncSession, clock: Clock, actor: Person) -> list[QueueItem]:
    """The actor's requests that still need something: active or awaiting their rating."""
    rows = await session.scalars(
        select(Request)
        .where(
            Request.requester_id == actor.id,
            Request.status.in_([*ACTIVE_STATUSES, Status.RESOLVED]),
        )
        .order_by(Request.created_at)
    )
    now = clock.now()
    return [QueueItem(r, sla.time_left(r, now, team_calendar(r.team))) for r in rows.unique()]


async def team_queue(
    session: AsyncSession, clock: Clock, actor: Person, team: str | None = None
) -> Queue:
    """A team's active requests, most urgent first; members only."""
    chosen = await _queue_team(session, actor, team)
    rows = await session.scalars(
        select(Request).where(Request.team_id == chosen.id, Request.status.in_(ACTIVE_STATUSES))
    )
    now = clock.now()
    calendar = team_calendar(chosen)
    items = [QueueItem(r, sla.time_left(r, now, calendar)) for r in rows.unique()]
    # Paused requests cannot lapse, so they go last; the rest by time left.
    items.sort(
        key=lambda i: (i.time_left is None, i.time_left or timedelta(0), i.request.created_at)
    )
    return Queue(chosen, items)


async def _queue_team(session: AsyncSession, actor: Person, team: str | None) -> Team:
    if team:
        found = await find_team(session, team)
        if found is None:
            raise UnknownTeam(N_("There is no team called '{name}'."), [], name=team)
        if not await is_on_team(session, found.id, actor.id):
            raise PermissionDenied(N_("Only {team} can see its queue."), team=found.name)
        return found
    mine = await teams_of(session, actor.id)
    if not mine:
        raise PermissionDenied(N_("You are not on any team, so you have no queue."))
    return mine[0]


async def request_story(
    session: AsyncSession, clock: Clock, actor: Person, key: str
) -> RequestStory:
    request = await load_request(session, key, actor, for_update=False)
    rows = await session.execute(
        select(RequestEvent, Person.display_name)
        .outerjoin(Person, Person.id == RequestEvent.actor_id)
        .where(RequestEvent.request_id == request.id)
        .order_by(RequestEvent.at, RequestEvent.id)
    )
    survey = await session.scalar(select(Survey).where(Survey.request_id == request.id))
    now = clock.now()
    return RequestStory(
        request=request,
        time_left=sla.time_left(request, now, team_calendar(request.team)),
        events=[(event, name) for event, name in rows.all()],
        survey=survey,
        now=now,
    )


async def assignable(
    session: AsyncSession, actor: Person, key: str
) -> tuple[Request, list[Person]]:
    """The request and who on its team may take it; only the team may ask."""
    request = await load_request(session, key, actor, for_update=False)
    await require_team_member(session, request, actor)
    rows = await session.scalars(
        select(Person)
        .where(
            Person.id.in_(select(Membership.person_id).where(Membership.team_id == request.team_id))
        )
        .order_by(Person.display_name)
    )
    return request, list(rows)


async def may_work_on(session: AsyncSession, actor: Person, key: str) -> Request:
    """The request, if the actor's team owns it (before showing a team-only form)."""
    request = await load_request(session, key, actor, for_update=False)
    await require_team_member(session, request, actor)
    return request


async def request_key(session: AsyncSession, request_id: int) -> str:
    request = await session.get(Request, request_id)
    if request is None:
        raise NotFound(N_("That request no longer exists."))
    return request.key
