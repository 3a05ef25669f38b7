"""Notices and results as plain text, in the reader's language and time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.briefing import organisation_lines, team_lines
from handlers.digest import insight_from_payload
from handlers.notices import NoticeKind
from handlers.queries import Queue, QueueItem, RequestStory
from models.i18n import _, format_duration, format_when, ngettext
from models.requests import Request
from models.visible_text import neutralise
from models.vocabulary import STATUS_LABELS, Priority, Status

Escape = Callable[[str], str]
"""How a channel shows one person's text to another (each platform has one)."""

Instant = Callable[[datetime, datetime], str]
"""How a channel shows an instant (the moment, the reader's now): the reader's own
words by default (`format_when`); Slack marks it up so each viewer reads it in
their own zone (bot.slack.mrkdwn.instant)."""


def terminal(text: str) -> str:
    """The console's escaping: people's text as typed, minus invisible steering."""
    return neutralise(text)


def status_label(status: str) -> str:
    return _(STATUS_LABELS[Status(status)])


def clock_label(clock: str) -> str:
    return _("first-response") if clock == "first_response" else _("resolution")


def priority_label(priority: str) -> str:
    labels = {
        Priority.URGENT: _("urgent"),
        Priority.HIGH: _("high"),
        Priority.NORMAL: _("normal"),
        Priority.LOW: _("low"),
    }
    return labels[Priority(priority)]


def priority_words() -> list[str]:
    """The priorities in the reader's words, most urgent first."""
    return [priority_label(p) for p in Priority]


def priority_choices() -> str:
    """The priorities in the reader's words, for a prompt."""
    return ", ".join(priority_words())


def priority_typed(word: str) -> str:
    """A priority typed at a prompt in the reader's words ("hoch") as the priority
    it names; English words, and anything else, go on as typed (and anything else
    is refused by the use case, which names the choices)."""
    typed = word.strip()
    for priority in Priority:
        if typed.lower() == priority_label(priority).lower():
            return priority.value
    return typed


def time_left_label(left: timedelta | None) -> str:
    if left is None:
        return _("clock paused")
    if left < timedelta(0):
        return _("overdue by {span}", span=format_duration(-left))
    return _("{span} left", span=format_duration(left))


def promise(request: Request, esc: Escape, when: Instant = format_when) -> str:
    """The service standard as a promise, said as the request is filed: a due
    time beyond the coming week carries its date."""
    now = request.created_at
    if request.resolution_due_at is None:
        return _(
            "{team} aims to respond by {respond}.",
            team=esc(request.team.name),
            respond=when(request.first_response_due_at, now),
        )
    return _(
        "{team} aims to respond by {respond} and resolve by {resolve}.",
        team=esc(request.team.name),
        respond=when(request.first_response_due_at, now),
        resolve=when(request.resolution_due_at, now),
    )


def filed(request: Request, esc: Escape, when: Instant = format_when) -> str:
    return (
        _("Filed {key}: {title}.", key=request.key, title=esc(request.title))
        + " "
        + promise(request, esc, when)
    )


def notice(kind: str, payload: dict[str, Any], now: datetime) -> str:
    """One outbox notice as the text a person reads at `now` (a terminal has no
    markup, so the console's escaping applies to the whole text)."""
    return terminal(_notice(kind, payload, now))


def _notice(kind: str, payload: dict[str, Any], now: datetime) -> str:
    if kind == NoticeKind.DIGEST:  # the one notice that is not about a single request
        return "\n".join(digest_lines(payload, terminal))
    if kind == NoticeKind.COMMAND_ANSWER:  # rendered for its reader when it was queued
        return str(payload["text"])
    r = payload["request"]
    head = f"{r['key']} · {r['title']}"
    match NoticeKind(kind):
        case NoticeKind.TEAM_CARD:
            return _card(r, now)
        case NoticeKind.TEAM_THREAD:
            return _thread_line(head, payload)
        case NoticeKind.ASSIGNED:
            return _("{head}: {by} assigned this to you.", head=head, by=payload["by"])
        case NoticeKind.FIRST_RESPONSE:
            return _(
                "{head}: {name} from {team} is on it.",
                head=head,
                name=payload.get("author") or r["team_name"],
                team=r["team_name"],
            )
        case NoticeKind.REPLY:
            return _(
                "{head}: {author} ({team}) wrote: {text}",
                head=head,
                author=payload["author"],
                team=r["team_name"],
                text=payload["text"],
            )
        case NoticeKind.WAITING:
            if payload.get("text"):
                return _(
                    "{head}: {author} needs something from you: {text}",
                    head=head,
                    author=payload["author"],
                    text=payload["text"],
                )
            return _(
                "{head}: {author} is waiting on you; reply to continue.",
                head=head,
                author=payload["author"],
            )
        case NoticeKind.WARNING:
            return _(
                "{head}: the {clock} standard lapses {when}.",
                head=head,
                clock=clock_label(payload["clock"]),
                when=format_when(datetime.fromisoformat(payload["due_at"]), now),
            )
        case NoticeKind.ESCALATION:
            return _(
                "{head}: the {clock} standard has lapsed (level {level}). "
                "{requester} has waited {waited}; held by {holder}.",
                head=head,
                clock=clock_label(payload["clock"]),
                level=payload["level"],
                requester=r["requester_name"],
                waited=format_duration(timedelta(seconds=payload["waited_seconds"])),
                holder=r["assignee_name"] or _("nobody"),
            )
        case NoticeKind.SURVEY_REMINDER:
            return _("{head}: how did it go? Answer with: rate {key} 1-5.", head=head, key=r["key"])
        case NoticeKind.DIGEST | NoticeKind.COMMAND_ANSWER:
            raise AssertionError("rendered above")
        case NoticeKind.SURVEY_ANSWERED:
            return _(
                "{head}: you rated it {rating} of {scale}. Thank you!",
                head=head,
                rating=payload["rating"],
                scale=payload["scale"],
            )
        case NoticeKind.RESOLVED:
            return "\n".join(
                [
                    _(
                        "{head}: resolved by {author}: {note}",
                        head=head,
                        author=payload["author"],
                        note=payload["note"],
                    ),
                    _(
                        "How did we do? Answer with: rate {key} 1-{scale} [comment], "
                        "or reopen {key} if it is not fixed.",
                        key=r["key"],
                        scale=payload["scale"],
                    ),
                ]
            )


def digest_lines(payload: dict[str, Any], esc: Escape) -> list[str]:
    """A digest notice for its reader: a team's week, or the organisation's."""
    figures = insight_from_payload(payload["insight"])
    header = _("The week {week} in figures", week=payload["week"])
    if payload["scope"] == "team" and figures.teams:
        return [header, *team_lines(figures.teams[0], esc)]
    return [header, *organisation_lines(figures, esc)]


def _card(r: dict[str, Any], now: datetime) -> str:
    parts = [
        f"{r['key']} · {r['title']}",
        _("from {name}", name=r["requester_name"]),
        priority_label(r["priority"]),
    ]
    if r["category"]:
        parts.append(r["category"])
    parts.append(status_label(r["status"]))
    if r["assignee_name"]:
        parts.append(_("held by {name}", name=r["assignee_name"]))
    if r["status"] in (Status.RESOLVED, Status.CLOSED):
        return " · ".join(parts)
    if r["first_response_at"] is None:
        parts.append(
            _(
                "respond by {when}",
                when=format_when(datetime.fromisoformat(r["first_response_due_at"]), now),
            )
        )
    elif r["resolution_due_at"]:
        due = datetime.fromisoformat(r["resolution_due_at"])
        parts.append(_("resolve by {when}", when=format_when(due, now)))
    return " · ".join(parts)


def _thread_line(head: str, payload: dict[str, Any]) -> str:
    author = payload["author"]
    if "rating" in payload:
        line = _(
            "{head}: {author} rated {rating} of {scale}.",
            head=head,
            author=author,
            rating=payload["rating"],
            scale=payload["scale"],
        )
        return line + (f" “{payload['text']}”" if payload.get("text") else "")
    if payload.get("reopened"):
        if payload.get("text"):
            return _(
                "{head}: {author} reopened it: {text}",
                head=head,
                author=author,
                text=payload["text"],
            )
        return _("{head}: {author} reopened it.", head=head, author=author)
    if payload.get("internal"):
        return _(
            "{head}: internal note from {author}: {text}",
            head=head,
            author=author,
            text=payload["text"],
        )
    return _("{head}: {author} wrote: {text}", head=head, author=author, text=payload["text"])


def item_line(item: QueueItem, esc: Escape) -> str:
    r = item.request
    line = f"{r.key} · {esc(r.title)} · {priority_label(r.priority)} · {status_label(r.status)}"
    if r.status in (Status.RESOLVED, Status.CLOSED):
        return line
    return f"{line} · {time_left_label(item.time_left)}"


def my_list(items: list[QueueItem], esc: Escape) -> str:
    if not items:
        return _("You have no open requests.")
    header = ngettext("You have {n} open request:", "You have {n} open requests:", len(items))
    return "\n".join([header, *("  " + item_line(i, esc) for i in items)])


def queue(q: Queue, esc: Escape) -> str:
    if not q.items:
        return _("{team} has nothing in its queue.", team=esc(q.team.name))
    header = ngettext(
        "{team}: {n} request in the queue, most urgent first:",
        "{team}: {n} requests in the queue, most urgent first:",
        len(q.items),
        team=esc(q.team.name),
    )
    return "\n".join([header, *("  " + item_line(i, esc) for i in q.items)])


def story(s: RequestStory, esc: Escape, when: Instant = format_when) -> str:
    r = s.request
    lines = [
        f"{r.key} · {esc(r.title)}",
        _(
            "Team: {team} · priority {priority} · status {status}",
            team=esc(r.team.name),
            priority=priority_label(r.priority),
            status=status_label(r.status),
        ),
        _(
            "Requested by {name} on {when}",
            name=esc(r.requester.display_name),
            when=when(r.created_at, s.now),
        ),
    ]
    if r.assignee:
        lines.append(_("Held by {name}", name=esc(r.assignee.display_name)))
    if r.status not in (Status.RESOLVED, Status.CLOSED):
        lines.append(time_left_label(s.time_left))
    if s.survey and s.survey.rating is not None:
        lines.append(_("Rated {rating} of {scale}", rating=s.survey.rating, scale=s.survey.scale))
    lines.append(_("History:"))
    for event, actor in s.events:
        lines.append(
            f"  {when(event.at, s.now)} · {_event_line(event.kind, event.data, actor, esc)}"
        )
    return "\n".join(lines)


def _event_line(kind: str, data: dict[str, object], actor: str | None, esc: Escape) -> str:
    """One history entry: what happened (to whom, from what to what) and who did it."""
    by = f" · {esc(actor)}" if actor else ""
    if kind == "assigned" and data.get("assignee"):
        name = esc(str(data["assignee"]))
        if data.get("previous_assignee"):
            what = _(
                "reassigned from {previous} to {name}",
                previous=esc(str(data["previous_assignee"])),
                name=name,
            )
        else:
            what = _("assigned to {name}", name=name)
        return what + (" · " + _("by {name}", name=esc(actor)) if actor else "")
    if kind == "priority_changed" and data.get("previous") and data.get("priority"):
        what = _(
            "priority changed: {previous} → {priority}",
            previous=priority_label(str(data["previous"])),
            priority=priority_label(str(data["priority"])),
        )
        return what + by
    return f"{event_label(kind)}{_event_detail(data)}{by}"


def _event_detail(data: dict[str, object]) -> str:
    """What makes an SLA event readable: which clock, which rung, why it closed."""
    parts = []
    if data.get("clock"):
        parts.append(clock_label(str(data["clock"])))
    if data.get("level"):
        parts.append(_("level {level}", level=data["level"]))
    if data.get("reason") == "auto_closed":
        parts.append(_("automatically, unanswered"))
    return f" ({', '.join(parts)})" if parts else ""


def event_label(kind: str) -> str:
    labels = {
        "filed": _("filed"),
        "claimed": _("claimed"),
        "assigned": _("assigned"),
        "replied": _("replied"),
        "note": _("internal note"),
        "requester_replied": _("requester replied"),
        "waiting": _("waiting on requester"),
        "resumed": _("work resumed"),
        "resolved": _("resolved"),
        "reopened": _("reopened"),
        "rated": _("rated"),
        "commented": _("commented"),
        "closed": _("closed"),
        "priority_changed": _("priority changed"),
        "warned": _("warned: the standard is about to lapse"),
        "escalated": _("escalated"),
        "survey_reminded": _("reminded about the survey"),
    }
    return labels.get(kind, kind)
