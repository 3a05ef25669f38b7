"""What the serving team does with a request: claim, assign, reply, wait, resolve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import notices, sla
from handlers.access import (
    load_request,
    record,
    require_team_member,
    team_calendar,
)
from handlers.errors import Conflict, InvalidInput, PermissionDenied, within_limit
from handlers.filing import standard_for
from handlers.notices import NoticeKind
from handlers.people import find_person_by_email, is_on_team
from handlers.survey import open_survey
from models.calendar import business_time_between
from models.clock import Clock
from models.directory import Person
from models.i18n import N_, Lazy
from models.requests import DESCRIPTION_MAX, Request
from models.vocabulary import ACTIVE_STATUSES, STATUS_LABELS, Priority, Status

REPLY_MAX = DESCRIPTION_MAX


@dataclass(frozen=True)
class Outcome:
    request: Request
    # False when the action was already done (a double click, a platform retry).
    changed: bool = True


async def claim(session: AsyncSession, clock: Clock, actor: Person, key: str) -> Outcome:
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    _require_active(request)
    if request.assignee_id == actor.id:
        return Outcome(request, changed=False)
    if request.assignee is not None:
        # Taking a colleague's request is a decision to say out loud, never the
        # side effect of a click on a card they are also looking at.
        raise Conflict(
            N_("{key} is held by {name}. To take it over: assign {key} me"),
            key=request.key,
            name=request.assignee.display_name,
        )
    now = clock.now()
    request.assignee_id = actor.id
    request.assignee = actor
    _start_work(request)
    record(session, request, actor, "claimed", now)
    _first_response(session, request, now, announce=True)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    return Outcome(request)


async def assign(
    session: AsyncSession, clock: Clock, actor: Person, key: str, assignee_email: str
) -> Outcome:
    """Give the request to a team member, whoever holds it now."""
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    _require_active(request)
    assignee = await find_person_by_email(session, assignee_email)
    if not await is_on_team(session, request.team_id, assignee.id):
        raise InvalidInput(
            N_("{name} is not on {team}."),
            field="assignee",
            name=assignee.display_name,
            team=request.team.name,
        )
    return _hand_over(session, clock, actor, request, assignee)


async def take_over(session: AsyncSession, clock: Clock, actor: Person, key: str) -> Outcome:
    """The actor takes the request, also from a colleague who holds it (`assign KEY me`)."""
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    _require_active(request)
    return _hand_over(session, clock, actor, request, actor)


def _hand_over(
    session: AsyncSession, clock: Clock, actor: Person, request: Request, assignee: Person
) -> Outcome:
    if request.assignee_id == assignee.id:
        return Outcome(request, changed=False)
    now = clock.now()
    previous = request.assignee.display_name if request.assignee else None
    request.assignee_id = assignee.id
    request.assignee = assignee
    _start_work(request)
    # The history names who got it and from whom; the event's actor is who decided.
    record(
        session,
        request,
        actor,
        "assigned",
        now,
        assignee=assignee.display_name,
        previous_assignee=previous,
    )
    _first_response(session, request, now, announce=True)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    if assignee.id != actor.id:
        notices.to_person(
            session, request, assignee.id, NoticeKind.ASSIGNED, now, by=actor.display_name
        )
    return Outcome(request)


async def reply(
    session: AsyncSession,
    clock: Clock,
    actor: Person,
    key: str,
    text: str,
    *,
    internal: bool = False,
) -> Outcome:
    """A message on the request's conversation.

    From the team it reaches the requester (a public reply, which counts as first
    response) or stays in the team thread (an internal note). From the requester
    it reaches the team thread and, if the team was waiting on them, resumes work.
    """
    request = await load_request(session, key, actor)
    body = _message(text)
    now = clock.now()
    on_team = await is_on_team(session, request.team_id, actor.id)
    if request.status is Status.CLOSED:
        raise Conflict(N_("{key} is closed; file a new request."), key=request.key)
    if on_team:
        if internal:
            record(session, request, actor, "note", now, text=body)
            notices.to_team(
                session,
                request,
                NoticeKind.TEAM_THREAD,
                now,
                author=actor.display_name,
                text=body,
                internal=True,
            )
            return Outcome(request)
        record(session, request, actor, "replied", now, text=body)
        if request.status is Status.OPEN:
            request.status = Status.IN_PROGRESS
            notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
        _first_response(session, request, now, announce=False)
        notices.to_person(
            session,
            request,
            request.requester_id,
            NoticeKind.REPLY,
            now,
            author=actor.display_name,
            text=body,
        )
        return Outcome(request)
    if request.requester_id != actor.id:
        raise PermissionDenied(
            N_("Only {team} and the requester can write on {key}."),
            team=request.team.name,
            key=request.key,
        )
    if internal:
        raise PermissionDenied(N_("Only {team} can add internal notes."), team=request.team.name)
    record(session, request, actor, "requester_replied", now, text=body)
    if request.status is Status.WAITING:
        _resume(request, now)
        record(session, request, actor, "resumed", now)
        notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    notices.to_team(
        session,
        request,
        NoticeKind.TEAM_THREAD,
        now,
        author=actor.display_name,
        text=body,
        internal=False,
    )
    return Outcome(request)


async def wait_on_requester(
    session: AsyncSession, clock: Clock, actor: Person, key: str, question: str = ""
) -> Outcome:
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    _require_active(request)
    if request.status is Status.WAITING:
        return Outcome(request, changed=False)
    body = _message(question) if question.strip() else ""
    now = clock.now()
    request.status = Status.WAITING
    sla.pause(request, now, team_calendar(request.team))
    record(session, request, actor, "waiting", now, question=body or None)
    _first_response(session, request, now, announce=False)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    notices.to_person(
        session,
        request,
        request.requester_id,
        NoticeKind.WAITING,
        now,
        author=actor.display_name,
        text=body or None,
    )
    return Outcome(request)


async def resume(session: AsyncSession, clock: Clock, actor: Person, key: str) -> Outcome:
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    if request.status is not Status.WAITING:
        return Outcome(request, changed=False)
    now = clock.now()
    _resume(request, now)
    record(session, request, actor, "resumed", now)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    return Outcome(request)


async def resolve(
    session: AsyncSession, clock: Clock, actor: Person, key: str, note: str
) -> Outcome:
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    if request.status in (Status.RESOLVED, Status.CLOSED):
        return Outcome(request, changed=False)
    body = note.strip()
    if not body:
        raise InvalidInput(
            N_("Say what was done, so {name} knows."),
            field="note",
            name=request.requester.display_name,
        )
    _message(body)
    now = clock.now()
    calendar = team_calendar(request.team)
    request.status = Status.RESOLVED
    request.resolved_at = now
    request.resolution_note = body
    if request.assignee_id is None:
        request.assignee_id = actor.id
        request.assignee = actor
    sla.pause(request, now, calendar)
    _first_response(session, request, now, announce=False)
    record(session, request, actor, "resolved", now, note=body)
    scale = await open_survey(session, request, now)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    notices.to_person(
        session,
        request,
        request.requester_id,
        NoticeKind.RESOLVED,
        now,
        author=actor.display_name,
        note=body,
        scale=scale,
    )
    return Outcome(request)


async def set_priority(
    session: AsyncSession, clock: Clock, actor: Person, key: str, priority: str
) -> Outcome:
    request = await load_request(session, key, actor)
    await require_team_member(session, request, actor)
    _require_active(request)
    try:
        wanted = Priority(priority.strip().lower())
    except ValueError:
        raise InvalidInput(
            N_("There is no priority '{priority}'. Choose one of: {choices}."),
            field="priority",
            priority=priority,
            choices=", ".join(p.value for p in Priority),
        ) from None
    if wanted is request.priority:
        return Outcome(request, changed=False)
    now = clock.now()
    first_response, resolution = await standard_for(session, request.team, wanted)
    previous = request.priority
    request.priority = wanted
    sla.retarget(request, first_response, resolution, team_calendar(request.team))
    record(
        session,
        request,
        actor,
        "priority_changed",
        now,
        previous=previous.value,
        priority=wanted.value,
    )
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    return Outcome(request)


def _require_active(request: Request) -> None:
    if request.status not in ACTIVE_STATUSES:
        raise Conflict(
            N_("{key} is already {status}."),
            key=request.key,
            status=Lazy(STATUS_LABELS[request.status]),
        )


def _start_work(request: Request) -> None:
    if request.status is Status.OPEN:
        request.status = Status.IN_PROGRESS


def _resume(request: Request, now: datetime) -> None:
    request.status = Status.IN_PROGRESS
    sla.resume(request, now, team_calendar(request.team))


def _first_response(
    session: AsyncSession, request: Request, now: datetime, *, announce: bool
) -> None:
    """The first visible act of the team stops the first-response clock."""
    if request.first_response_at is not None:
        return
    request.first_response_at = now
    request.first_response_business_seconds = int(
        business_time_between(request.created_at, now, team_calendar(request.team)).total_seconds()
    )
    if announce:
        notices.to_person(
            session,
            request,
            request.requester_id,
            NoticeKind.FIRST_RESPONSE,
            now,
            author=request.assignee.display_name if request.assignee else None,
        )


def _message(text: str) -> str:
    body = text.strip()
    if not body:
        raise InvalidInput(N_("The message is empty."), field="text")
    return within_limit(
        body,
        REPLY_MAX,
        field="text",
        too_long=N_("The message is {length} characters long; the limit is {limit}."),
    )
