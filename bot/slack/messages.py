"""Block Kit for what the desk posts: the team card and the DMs.

Built with slack_sdk.models so Slack's limits are checked as the blocks are made;
all text goes through `_()` for the reader set by the caller (models.i18n.reader).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.console.render import clock_label, priority_label, status_label, time_left_label
from bot.slack.mrkdwn import escape, instant, plain_dates, quote
from models.i18n import _, format_duration
from models.vocabulary import Status

ACTION_CLAIM = "claim"
ACTION_ASSIGN = "assign_open"
ACTION_WAIT = "wait"
ACTION_RESOLVE = "resolve_open"
ACTION_RATE = "rate"  # buttons are rate_1 … rate_N
RATE_PATTERN = re.compile(r"^rate_\d+$")
ACTION_REOPEN = "reopen"
ACTION_COMMENT = "comment_open"
ACTION_FILE_FROM_MESSAGE = "file_from_message"
ACTION_STATUS = "status"


def _button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=text, action_id=action_id, value=value, style=style)


def team_card(
    r: dict[str, Any], time_left: timedelta | None, now: datetime
) -> tuple[str, list[Block]]:
    """The request's card in the team channel; resolved ones collapse to one line.
    Its due time is Slack date markup: each member reads it in their own zone."""
    key, title = r["key"], escape(r["title"])
    status = Status(r["status"])
    if status in (Status.RESOLVED, Status.CLOSED):
        line = _(
            "✅ *{key}* · {title} · {status} by {name}",
            key=key,
            title=title,
            status=status_label(status),
            name=escape(r["assignee_name"] or "?"),
        )
        return _("{key} {status}", key=key, status=status_label(status)), [
            SectionBlock(text=MarkdownTextObject(text=line))
        ]
    facts = [
        _("From *{name}*", name=escape(r["requester_name"])),
        _("Priority: *{priority}*", priority=priority_label(r["priority"])),
    ]
    if r.get("category"):
        facts.append(_("Category: *{category}*", category=escape(r["category"])))
    facts.append(_("Status: *{status}*", status=status_label(status)))
    facts.append(
        _("Held by *{name}*", name=escape(r["assignee_name"]))
        if r.get("assignee_name")
        else _("Nobody holds it yet")
    )
    if r.get("escalation_level"):
        facts.append(_("⚠️ Escalated to level {level}", level=r["escalation_level"]))
    due = _due_line(r, time_left, now)
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"*{key}* · {title}")),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(facts))]),
    ]
    if due:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=due)]))
    buttons = [
        _button(_("Claim"), ACTION_CLAIM, key, "primary"),
        _button(_("Assign…"), ACTION_ASSIGN, key),
    ]
    if status is not Status.WAITING:
        buttons.append(_button(_("Waiting on requester"), ACTION_WAIT, key))
    buttons.append(_button(_("Resolve"), ACTION_RESOLVE, key))
    blocks.append(ActionsBlock(block_id=f"card:{key}", elements=buttons))
    fallback = _("{key}: {title} ({status})", key=key, title=title, status=status_label(status))
    return fallback, blocks


def _due_line(r: dict[str, Any], time_left: timedelta | None, now: datetime) -> str | None:
    if r.get("first_response_at") is None:
        when = instant(datetime.fromisoformat(r["first_response_due_at"]), now)
        return _("⏱ {left} · respond by {when}", left=time_left_label(time_left), when=when)
    if r.get("resolution_due_at"):
        when = instant(datetime.fromisoformat(r["resolution_due_at"]), now)
        return _("⏱ {left} · resolve by {when}", left=time_left_label(time_left), when=when)
    if Status(r["status"]) is Status.WAITING:
        return _("⏸ Waiting on the requester: the clock is paused")
    return None


def thread_line(payload: dict[str, Any], now: datetime) -> str:
    """A line in the card's thread: requester reply, internal note, rating, reopen,
    or the warning that a standard is about to lapse."""
    if "due_at" in payload and "clock" in payload:
        return _(
            "⏳ The {clock} standard lapses {when} and nobody holds this yet.",
            clock=clock_label(payload["clock"]),
            when=instant(datetime.fromisoformat(payload["due_at"]), now),
        )
    author = escape(payload["author"])
    text = payload.get("text")
    if "rating" in payload:
        line = _(
            "⭐ {author} rated it {rating} of {scale}.",
            author=author,
            rating=payload["rating"],
            scale=payload["scale"],
        )
        return line + ("\n" + quote(text) if text else "")
    if payload.get("reopened"):
        line = _("🔁 {author} reopened it.", author=author)
        return line + ("\n" + quote(text) if text else "")
    if payload.get("internal"):
        return _("📝 Internal note from {author}:", author=author) + "\n" + quote(text or "")
    return _("💬 {author} wrote:", author=author) + "\n" + quote(text or "")


def dm(kind: str, payload: dict[str, Any], now: datetime) -> tuple[str, list[Block]]:
    """A direct message to a person about a request, read at `now`."""
    r = payload["request"]
    head = f"*{r['key']}* · {escape(r['title'])}"
    match kind:
        case "first_response":
            text = _(
                "{head}\n{name} from {team} is on it.",
                head=head,
                name=escape(payload.get("author") or r["team_name"]),
                team=escape(r["team_name"]),
            )
        case "reply":
            text = _(
                "{head}\n{author} ({team}) wrote:",
                head=head,
                author=escape(payload["author"]),
                team=escape(r["team_name"]),
            )
            text += "\n" + quote(payload["text"]) + "\n" + _("_Reply in this thread to answer._")
        case "waiting":
            text = _(
                "{head}\n{author} needs something from you before going on.",
                head=head,
                author=escape(payload["author"]),
            )
            if payload.get("text"):
                text += "\n" + quote(payload["text"])
            text += "\n" + _("_Reply in this thread to answer; the team's clock waits for you._")
        case "assigned":
            text = _("{head}\n{by} assigned this to you.", head=head, by=escape(payload["by"]))
        case "warning":
            text = _(
                "⏳ {head}\nThe {clock} standard lapses {when}.",
                head=head,
                clock=clock_label(payload["clock"]),
                when=instant(datetime.fromisoformat(payload["due_at"]), now),
            )
        case "survey_reminder":
            text = _(
                "{head}\nHow did it go? Your answer helps {team} get better; the "
                "buttons on the resolution message still work.",
                head=head,
                team=escape(r["team_name"]),
            )
        case "escalation":
            return escalation(payload)
        case _:
            raise ValueError(f"not a plain DM: {kind}")
    return _plain(text), [SectionBlock(text=MarkdownTextObject(text=text))]


def escalation(payload: dict[str, Any]) -> tuple[str, list[Block]]:
    """To someone up the ladder: what lapsed, how long it waited, who holds it."""
    r = payload["request"]
    key = r["key"]
    text = _(
        "🚨 *{key}* · {title}\nThe {clock} standard of {team} has lapsed "
        "(escalation level {level}). {requester} has waited {waited}; {holder}.",
        key=key,
        title=escape(r["title"]),
        clock=clock_label(payload["clock"]),
        team=escape(r["team_name"]),
        level=payload["level"],
        requester=escape(r["requester_name"]),
        waited=format_duration(timedelta(seconds=payload["waited_seconds"])),
        holder=_("held by {name}", name=escape(r["assignee_name"]))
        if r.get("assignee_name")
        else _("nobody holds it"),
    )
    return _plain(text), [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(
            block_id=f"escalation:{key}",
            elements=[
                _button(_("Claim"), ACTION_CLAIM, key, "primary"),
                _button(_("Open"), ACTION_STATUS, key),
            ],
        ),
    ]


def survey(payload: dict[str, Any]) -> tuple[str, list[Block]]:
    """Resolution note and 'How did we do?' with one button per rating."""
    r = payload["request"]
    key = r["key"]
    text = (
        _(
            "{head}\nResolved by {author}:",
            head=f"*{key}* · {escape(r['title'])}",
            author=escape(payload["author"]),
        )
        + "\n"
        + quote(payload["note"])
    )
    scale = int(payload["scale"])
    # Slack wants action ids unique within a block: rate_1 … rate_N.
    ratings = [_button(str(n), f"{ACTION_RATE}_{n}", f"{key}|{n}") for n in range(1, scale + 1)]
    return _plain(text), [
        SectionBlock(text=MarkdownTextObject(text=text)),
        SectionBlock(
            text=MarkdownTextObject(
                text=_(
                    "*How did we do?* (1 = poor, {scale} = excellent; you can also react "
                    "with :one: … :five:, :+1: or :-1:)",
                    scale=scale,
                )
            )
        ),
        ActionsBlock(block_id=f"rate:{key}", elements=ratings),
        ActionsBlock(
            block_id=f"reopen:{key}",
            elements=[_button(_("Not fixed — reopen"), ACTION_REOPEN, key, "danger")],
        ),
    ]


def survey_answered(payload: dict[str, Any]) -> tuple[str, list[Block]]:
    """The survey message after the answer: what was chosen, and the way back."""
    r = payload["request"]
    key = r["key"]
    text = _(
        "{head}\nYou rated it *{rating} of {scale}*. Thank you!",
        head=f"*{key}* · {escape(r['title'])}",
        rating=payload["rating"],
        scale=payload["scale"],
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    if payload.get("offer_reopen"):
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_("Sorry it went badly. Tell the team what went wrong, or reopen it.")
                )
            )
        )
        blocks.append(
            ActionsBlock(
                block_id=f"after:{key}",
                elements=[
                    _button(_("Tell the team"), ACTION_COMMENT, key),
                    _button(_("Not fixed — reopen"), ACTION_REOPEN, key, "danger"),
                ],
            )
        )
    return _plain(text), blocks


def offer_to_file(text: str, permalink: str | None) -> list[Block]:
    """A button that turns a message into a request (DMs and :ticket: reactions)."""
    value = json.dumps({"text": text[:1500], "permalink": permalink})
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=_("Should I file this as a request?") + "\n" + quote(text[:500])
            )
        ),
        ActionsBlock(
            elements=[
                _button(_("File this as a request"), ACTION_FILE_FROM_MESSAGE, value, "primary")
            ]
        ),
    ]


def _plain(mrkdwn: str) -> str:
    """Notification text (what alerts and screen readers show): unformatted, short."""
    lines = plain_dates(mrkdwn).splitlines()
    flat = " ".join(line.lstrip("> ").strip() for line in lines if line.strip())
    return flat.replace("*", "").replace("_", "")[:300]
