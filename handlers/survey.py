"""After resolution: the requester rates, confirms, reopens; or the request closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import notices, sla
from handlers.access import load_request, record, require_requester, team_calendar
from handlers.errors import Conflict, InvalidInput, within_limit
from handlers.notices import NoticeKind
from models.clock import Clock
from models.directory import DeskSettings, Person
from models.i18n import N_
from models.requests import COMMENT_MAX, Request, Survey
from models.vocabulary import Status


@dataclass(frozen=True)
class Rated:
    request: Request
    survey: Survey
    # A low rating keeps the request resolved so the requester can still reopen it.
    offer_reopen: bool


async def desk_settings(session: AsyncSession) -> DeskSettings:
    settings = await session.get(DeskSettings, 1)
    return (
        settings
        if settings is not None
        else DeskSettings(
            id=1,
            survey_scale=5,
            survey_reopen_below=3,
            auto_close_after="3d",
            recognition=False,
            digest_day="mon",
            digest_time="09:00",
        )
    )


async def open_survey(session: AsyncSession, request: Request, now: datetime) -> int:
    """Ask (again) how it went; a request resolved twice is rated on its last resolution."""
    scale = (await desk_settings(session)).survey_scale
    survey = await session.scalar(select(Survey).where(Survey.request_id == request.id))
    if survey is None:
        session.add(Survey(request_id=request.id, scale=scale, sent_at=now))
    else:
        survey.scale, survey.sent_at = scale, now
        survey.rating = survey.comment = survey.answered_at = None
    return scale


async def rate(
    session: AsyncSession,
    clock: Clock,
    actor: Person,
    key: str,
    rating: int,
    comment: str = "",
) -> Rated:
    request = await load_request(session, key, actor)
    require_requester(request, actor)
    survey = await session.scalar(select(Survey).where(Survey.request_id == request.id))
    if survey is None or request.status not in (Status.RESOLVED, Status.CLOSED):
        raise Conflict(
            N_("{key} has not been resolved yet, so there is nothing to rate."), key=request.key
        )
    if survey.answered_at is not None:
        raise Conflict(
            N_("Thanks, you already rated {key} ({rating} of {scale})."),
            key=request.key,
            rating=survey.rating,
            scale=survey.scale,
        )
    if not 1 <= rating <= survey.scale:
        raise InvalidInput(N_("Rate from 1 to {scale}."), field="rating", scale=survey.scale)
    text = _comment(comment)
    now = clock.now()
    settings = await desk_settings(session)
    survey.rating, survey.comment, survey.answered_at = rating, text or None, now
    record(session, request, actor, "rated", now, rating=rating, comment=text or None)
    notices.to_team(
        session,
        request,
        NoticeKind.TEAM_THREAD,
        now,
        author=actor.display_name,
        rating=rating,
        scale=survey.scale,
        text=text or None,
    )
    low = rating < settings.survey_reopen_below
    notices.to_person(
        session,
        request,
        request.requester_id,
        NoticeKind.SURVEY_ANSWERED,
        now,
        rating=rating,
        scale=survey.scale,
        offer_reopen=low,
    )
    if not low and request.status is Status.RESOLVED:
        _close(session, request, actor, now, reason="rated")
    return Rated(request, survey, offer_reopen=low and request.status is Status.RESOLVED)


async def add_comment(
    session: AsyncSession, clock: Clock, actor: Person, key: str, comment: str
) -> Survey:
    """The comment a low rating asks for, given after the rating itself."""
    request = await load_request(session, key, actor)
    require_requester(request, actor)
    survey = await session.scalar(select(Survey).where(Survey.request_id == request.id))
    if survey is None or survey.answered_at is None:
        raise Conflict(N_("Rate {key} first, then add a comment."), key=request.key)
    if survey.comment:
        raise Conflict(N_("You already commented on {key}."), key=request.key)
    text = _comment(comment)
    if not text:
        raise InvalidInput(N_("The comment is empty."), field="comment")
    now = clock.now()
    survey.comment = text
    record(session, request, actor, "commented", now, comment=text)
    notices.to_team(
        session,
        request,
        NoticeKind.TEAM_THREAD,
        now,
        author=actor.display_name,
        text=text,
        internal=False,
    )
    return survey


async def reopen(
    session: AsyncSession, clock: Clock, actor: Person, key: str, reason: str = ""
) -> Request:
    request = await load_request(session, key, actor)
    require_requester(request, actor)
    if request.status is Status.CLOSED:
        raise Conflict(N_("{key} is closed; file a new request."), key=request.key)
    if request.status is not Status.RESOLVED:
        raise Conflict(N_("{key} is still open."), key=request.key)
    text = _comment(reason)
    now = clock.now()
    request.status = Status.IN_PROGRESS if request.assignee_id else Status.OPEN
    request.resolved_at = None
    request.reopen_count += 1
    # The clock goes on from where resolution stopped it: reopening is not a fresh start.
    sla.resume(request, now, team_calendar(request.team))
    record(session, request, actor, "reopened", now, reason=text or None)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)
    notices.to_team(
        session,
        request,
        NoticeKind.TEAM_THREAD,
        now,
        author=actor.display_name,
        text=text or None,
        reopened=True,
    )
    return request


async def close(session: AsyncSession, clock: Clock, actor: Person, key: str) -> Request:
    """The requester confirms the fix without rating."""
    request = await load_request(session, key, actor)
    require_requester(request, actor)
    if request.status is Status.CLOSED:
        return request
    if request.status is not Status.RESOLVED:
        raise Conflict(N_("{key} is not resolved yet."), key=request.key)
    _close(session, request, actor, clock.now(), reason="confirmed")
    return request


def _close(
    session: AsyncSession, request: Request, actor: Person | None, now: datetime, reason: str
) -> None:
    request.status = Status.CLOSED
    request.closed_at = now
    record(session, request, actor, "closed", now, reason=reason)
    notices.to_team(session, request, NoticeKind.TEAM_CARD, now)


def _comment(text: str) -> str:
    return within_limit(
        text.strip(),
        COMMENT_MAX,
        field="comment",
        too_long=N_("The comment is {length} characters long; the limit is {limit}."),
    )
