"""Notices: what the desk has to tell someone, queued in the outbox.

A notice carries data, not text: it is rendered for its reader (language, time
zone, platform) when it is delivered. It is written in the same transaction as
the change it reports, so a change and its notices land together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.outbox import OutboxMessage
from models.requests import Request


class NoticeKind(StrEnum):
    TEAM_CARD = "team_card"  # the request's card in the team channel (edited in place)
    TEAM_THREAD = "team_thread"  # a line in the card's thread (requester reply, note, rating)
    ASSIGNED = "assigned"  # to the new assignee
    FIRST_RESPONSE = "first_response"  # to the requester: someone is on it
    REPLY = "reply"  # to the requester: a team member's public reply
    WAITING = "waiting"  # to the requester: the team needs something from you
    RESOLVED = "resolved"  # to the requester: the resolution note and the survey
    SURVEY_ANSWERED = "survey_answered"  # to the requester: the survey shows their answer
    WARNING = "warning"  # to the assignee (or the team): a standard is about to lapse
    ESCALATION = "escalation"  # to a person on the ladder: a standard has lapsed
    SURVEY_REMINDER = "survey_reminder"  # to the requester: the survey still waits
    DIGEST = "digest"  # the week in figures: to a team, or organisation-wide
    # The answer to a command someone is waiting for (a quick-file's "Filed IT-7",
    # or why it was not filed), at the platform's reply address.
    COMMAND_ANSWER = "command_answer"


def snapshot(request: Request) -> dict[str, Any]:
    """What a renderer needs to show a request as it was when the notice was queued."""
    return {
        "request_id": request.id,
        "key": request.key,
        "title": request.title,
        "team_key": request.team.key,
        "team_name": request.team.name,
        "status": request.status.value,
        "priority": request.priority.value,
        "category": request.category,
        "requester_name": request.requester.display_name,
        "assignee_name": request.assignee.display_name if request.assignee else None,
        "created_at": request.created_at.isoformat(),
        "first_response_at": _iso(request.first_response_at),
        "first_response_due_at": request.first_response_due_at.isoformat(),
        "resolution_due_at": _iso(request.resolution_due_at),
        "resolution_note": request.resolution_note,
        "escalation_level": request.escalation_level,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def to_team(
    session: AsyncSession,
    request: Request,
    kind: NoticeKind,
    now: datetime,
    **extra: Any,
) -> None:
    session.add(OutboxMessage(**team_row(request, kind, now, **extra)))


def team_row(request: Request, kind: NoticeKind, now: datetime, **extra: Any) -> dict[str, Any]:
    """`to_team`'s outbox row, as values (the SLA sweep inserts a batch's at once).
    Every row names both recipients, so rows for teams and people share one INSERT."""
    return {
        "request_id": request.id,
        "recipient_team_id": request.team_id,
        "recipient_person_id": None,
        "kind": kind.value,
        "payload": {"request": snapshot(request), **extra},
        "created_at": now,
        "next_attempt_at": now,
    }


def answer(
    session: AsyncSession,
    destination: dict[str, str],
    text: str,
    now: datetime,
    *,
    received_at: datetime | None = None,
    **extra: Any,
) -> None:
    """Queue the answer to what a person did, rendered already for them (their
    language, their time zone). `destination` is the platform's: where the answer
    goes and who to tell directly if that address is spent (for Slack a command's
    response_url, the user and the workspace; without a response_url, the person's
    DM with the bot). `received_at` is when a command came in: a platform's reply
    address lives only so long after it. `extra` is what else the platform shows
    with the text (for Slack: blocks, the figures a chart is drawn from)."""
    payload: dict[str, Any] = {"destination": destination, "text": text, **extra}
    if received_at is not None:
        payload["received_at"] = received_at.isoformat()
    session.add(
        OutboxMessage(
            kind=NoticeKind.COMMAND_ANSWER.value,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
        )
    )


def to_person(
    session: AsyncSession,
    request: Request,
    person_id: int,
    kind: NoticeKind,
    now: datetime,
    *,
    deliver_at: datetime | None = None,
    **extra: Any,
) -> None:
    """A DM; `deliver_at` holds it back (e.g. until the person's working hours)."""
    session.add(
        OutboxMessage(**person_row(request, person_id, kind, now, deliver_at=deliver_at, **extra))
    )


def person_row(
    request: Request,
    person_id: int,
    kind: NoticeKind,
    now: datetime,
    *,
    deliver_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """`to_person`'s outbox row, as values (see `team_row`)."""
    return {
        "request_id": request.id,
        "recipient_team_id": None,
        "recipient_person_id": person_id,
        "kind": kind.value,
        "payload": {"request": snapshot(request), **extra},
        "created_at": now,
        "next_attempt_at": deliver_at or now,
    }
