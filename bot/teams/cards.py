"""Adaptive Cards for Teams: the team card, the form, DMs, survey, escalations.

Cards are plain dicts in the Adaptive Card 1.5 schema (what Teams renders);
every label goes through `_()`, and people's text through `plain()` so it is
shown as typed rather than read as markdown links or formatting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.console.render import (
    clock_label,
    priority_label,
    status_label,
    time_left_label,
)
from models.i18n import _, format_duration, format_when
from models.requests import COMMENT_MAX, DESCRIPTION_MAX, TITLE_MAX
from models.visible_text import neutralise
from models.vocabulary import Priority, Status

Card = dict[str, Any]
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")
# Teams maps reactions to these names; the documented rating of each.
REACTION_RATINGS = {"like": 5, "heart": 5, "laugh": 4, "surprised": 3, "sad": 2, "angry": 1}


def plain(text: str) -> str:
    """The one escaping path for Teams: user text shown as typed, markdown (and so
    links, `<at>` mentions and HTML) escaped, invisible steering removed."""
    return _MARKDOWN.sub(r"\\\1", neutralise(text))


def instant(moment: datetime) -> str:
    """An instant on a card that each viewer reads in their own zone and locale:
    Teams formats DATE() and TIME() in a TextBlock's text on the reader's device
    (so a channel card is right for a member in Berlin and one in New York)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> Card:
    content: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return content


def text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def submit(title: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": data}
    if style:
        action["style"] = style
    return action


def show(title: str, inner: Card) -> dict[str, Any]:
    return {"type": "Action.ShowCard", "title": title, "card": inner}


def team_card(
    r: dict[str, Any], time_left: timedelta | None, members: list[tuple[str, str]]
) -> Card:
    key, status = r["key"], Status(r["status"])
    headline = text(f"**{key}** · {plain(r['title'])}", size="Medium")
    if status in (Status.RESOLVED, Status.CLOSED):
        return card(
            [
                text(
                    _(
                        "✅ **{key}** · {title} · {status} by {name}",
                        key=key,
                        title=plain(r["title"]),
                        status=status_label(status),
                        name=plain(r["assignee_name"] or "?"),
                    )
                )
            ]
        )
    facts = [
        {"title": _("From"), "value": plain(r["requester_name"])},
        {"title": _("Priority"), "value": priority_label(r["priority"])},
        {"title": _("Status"), "value": status_label(status)},
        {
            "title": _("Held by"),
            "value": plain(r["assignee_name"]) if r.get("assignee_name") else _("nobody yet"),
        },
    ]
    if r.get("category"):
        facts.insert(2, {"title": _("Category"), "value": plain(r["category"])})
    body: list[dict[str, Any]] = [headline, {"type": "FactSet", "facts": facts}]
    if r.get("escalation_level"):
        body.append(
            text(_("⚠️ Escalated to level {level}", level=r["escalation_level"]), color="Attention")
        )
    due = _due(r, time_left)
    if due:
        body.append(text(due, isSubtle=True))
    actions = [submit(_("Claim"), {"action": "claim", "key": key}, "positive")]
    if members:
        actions.append(
            show(
                _("Assign…"),
                card(
                    [
                        {
                            "type": "Input.ChoiceSet",
                            "id": "assignee",
                            "label": _("Who takes it?"),
                            "isRequired": True,
                            "choices": [{"title": name, "value": email} for email, name in members],
                        }
                    ],
                    [submit(_("Assign"), {"action": "assign", "key": key})],
                ),
            )
        )
    if status is not Status.WAITING:
        actions.append(
            show(
                _("Waiting on requester"),
                card(
                    [
                        {
                            "type": "Input.Text",
                            "id": "text",
                            "isMultiline": True,
                            "label": _("What do you need from them?"),
                            "maxLength": DESCRIPTION_MAX,
                        }
                    ],
                    [submit(_("Ask"), {"action": "wait", "key": key})],
                ),
            )
        )
    actions.append(
        show(
            _("Resolve"),
            card(
                [
                    {
                        "type": "Input.Text",
                        "id": "note",
                        "isMultiline": True,
                        "isRequired": True,
                        "label": _("What was done? The requester will read this."),
                        "errorMessage": _("Say what was done."),
                        "maxLength": DESCRIPTION_MAX,
                    }
                ],
                [submit(_("Resolve"), {"action": "resolve", "key": key}, "positive")],
            ),
        )
    )
    return card(body, actions)


def _due(r: dict[str, Any], time_left: timedelta | None) -> str | None:
    if r.get("first_response_at") is None:
        return _(
            "⏱ {left} · respond by {when}",
            left=time_left_label(time_left),
            when=instant(datetime.fromisoformat(r["first_response_due_at"])),
        )
    if r.get("resolution_due_at"):
        return _(
            "⏱ {left} · resolve by {when}",
            left=time_left_label(time_left),
            when=instant(datetime.fromisoformat(r["resolution_due_at"])),
        )
    if Status(r["status"]) is Status.WAITING:
        return _("⏸ Waiting on the requester: the clock is paused")
    return None


def thread_line(payload: dict[str, Any], now: datetime) -> str:
    """A reply in the card's chain: requester reply, internal note, rating, warning.
    A plain message, where Teams formats no DATE(): instants in the team's zone."""
    if "due_at" in payload and "clock" in payload:
        return _(
            "⏳ The {clock} standard lapses {when} and nobody holds this yet.",
            clock=clock_label(payload["clock"]),
            when=format_when(datetime.fromisoformat(payload["due_at"]), now),
        )
    author, said = plain(payload["author"]), payload.get("text")
    quoted = "\n\n> " + plain(said) if said else ""
    if "rating" in payload:
        return (
            _(
                "⭐ {author} rated it {rating} of {scale}.",
                author=author,
                rating=payload["rating"],
                scale=payload["scale"],
            )
            + quoted
        )
    if payload.get("reopened"):
        return _("🔁 {author} reopened it.", author=author) + quoted
    if payload.get("internal"):
        return _("📝 Internal note from {author}:", author=author) + quoted
    return _("💬 {author} wrote:", author=author) + quoted


def reply_box(key: str) -> dict[str, Any]:
    return show(
        _("Reply"),
        card(
            [
                {
                    "type": "Input.Text",
                    "id": "text",
                    "isMultiline": True,
                    "isRequired": True,
                    "label": _("Your answer"),
                    "maxLength": DESCRIPTION_MAX,
                }
            ],
            [submit(_("Send"), {"action": "reply", "key": key})],
        ),
    )


def dm(kind: str, payload: dict[str, Any], now: datetime) -> Card:
    r = payload["request"]
    key = r["key"]
    head = text(f"**{key}** · {plain(r['title'])}")
    match kind:
        case "first_response":
            return card(
                [
                    head,
                    text(
                        _(
                            "{name} from {team} is on it.",
                            name=plain(payload.get("author") or r["team_name"]),
                            team=plain(r["team_name"]),
                        )
                    ),
                ],
                [reply_box(key)],
            )
        case "reply":
            return card(
                [
                    head,
                    text(
                        _(
                            "{author} ({team}) wrote:",
                            author=plain(payload["author"]),
                            team=plain(r["team_name"]),
                        )
                    ),
                    text(plain(payload["text"])),
                ],
                [reply_box(key)],
            )
        case "waiting":
            body = [
                head,
                text(
                    _(
                        "{author} needs something from you before going on.",
                        author=plain(payload["author"]),
                    )
                ),
            ]
            if payload.get("text"):
                body.append(text(plain(payload["text"])))
            body.append(text(_("The team's clock waits for your answer."), isSubtle=True))
            return card(body, [reply_box(key)])
        case "assigned":
            return card([head, text(_("{by} assigned this to you.", by=plain(payload["by"])))])
        case "warning":
            return card(
                [
                    head,
                    text(
                        _(
                            "⏳ The {clock} standard lapses {when}.",
                            clock=clock_label(payload["clock"]),
                            when=format_when(datetime.fromisoformat(payload["due_at"]), now),
                        )
                    ),
                ]
            )
        case "survey_reminder":
            return card(
                [
                    head,
                    text(
                        _(
                            "How did it go? Your answer helps {team} get better.",
                            team=plain(r["team_name"]),
                        )
                    ),
                ],
                _rating_actions(key, 5),
            )
        case "escalation":
            return escalation(payload)
        case "resolved":
            return survey(payload)
        case "survey_answered":
            return survey_answered(payload)
    raise ValueError(f"no card for {kind}")


def escalation(payload: dict[str, Any]) -> Card:
    r = payload["request"]
    key = r["key"]
    holder = (
        _("held by {name}", name=plain(r["assignee_name"]))
        if r.get("assignee_name")
        else _("nobody holds it")
    )
    return card(
        [
            text(f"🚨 **{key}** · {plain(r['title'])}", color="Attention"),
            text(
                _(
                    "The {clock} standard of {team} has lapsed (escalation level {level}). "
                    "{requester} has waited {waited}; {holder}.",
                    clock=clock_label(payload["clock"]),
                    team=plain(r["team_name"]),
                    level=payload["level"],
                    requester=plain(r["requester_name"]),
                    waited=format_duration(timedelta(seconds=payload["waited_seconds"])),
                    holder=holder,
                )
            ),
        ],
        [
            submit(_("Claim"), {"action": "claim", "key": key}, "positive"),
            submit(_("Open"), {"action": "status", "key": key}),
        ],
    )


def _rating_actions(key: str, scale: int) -> list[dict[str, Any]]:
    return [
        submit(str(n), {"action": "rate", "key": key, "rating": n}) for n in range(1, scale + 1)
    ]


def survey(payload: dict[str, Any]) -> Card:
    r = payload["request"]
    key, scale = r["key"], int(payload["scale"])
    return card(
        [
            text(f"**{key}** · {plain(r['title'])}"),
            text(_("Resolved by {author}:", author=plain(payload["author"]))),
            text(plain(payload["note"])),
            text(
                _(
                    "**How did we do?** (1 = poor, {scale} = excellent; a reaction on this "
                    "message counts too)",
                    scale=scale,
                )
            ),
        ],
        [
            *_rating_actions(key, scale),
            submit(_("Not fixed — reopen"), {"action": "reopen", "key": key}, "destructive"),
        ],
    )


def survey_answered(payload: dict[str, Any]) -> Card:
    r = payload["request"]
    key = r["key"]
    body = [
        text(f"**{key}** · {plain(r['title'])}"),
        text(
            _(
                "You rated it **{rating} of {scale}**. Thank you!",
                rating=payload["rating"],
                scale=payload["scale"],
            )
        ),
    ]
    if not payload.get("offer_reopen"):
        return card(body)
    body.append(text(_("Sorry it went badly. Tell the team what went wrong, or reopen it.")))
    return card(
        body,
        [
            show(
                _("Tell the team"),
                card(
                    [
                        {
                            "type": "Input.Text",
                            "id": "text",
                            "isMultiline": True,
                            "isRequired": True,
                            "label": _("What went wrong?"),
                            "maxLength": COMMENT_MAX,
                        }
                    ],
                    [submit(_("Send"), {"action": "comment", "key": key})],
                ),
            ),
            submit(_("Not fixed — reopen"), {"action": "reopen", "key": key}, "destructive"),
        ],
    )


def request_form(
    teams: list[tuple[str, str, list[str]]],
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Card:
    """The filing form; errors come back on the same card, with what was typed."""
    values = values or {}
    body: list[dict[str, Any]] = [text(_("New request"), size="Medium", weight="Bolder")]
    if error:
        body.append(text("⚠️ " + error, color="Attention"))
    categories = [
        {"title": f"{name} · {category}", "value": category}
        for _key, name, cats in teams
        for category in cats
    ]
    body += [
        {
            "type": "Input.ChoiceSet",
            "id": "team",
            "label": _("Team"),
            "isRequired": True,
            "errorMessage": _("Choose a team."),
            "value": values.get("team", ""),
            "choices": [{"title": name, "value": key} for key, name, _cats in teams],
        },
        {
            "type": "Input.ChoiceSet",
            "id": "category",
            "label": _("Category"),
            "value": values.get("category", ""),
            "choices": categories,
        },
        {
            "type": "Input.ChoiceSet",
            "id": "priority",
            "label": _("Priority"),
            "value": values.get("priority", Priority.NORMAL.value),
            "choices": [{"title": priority_label(p), "value": p.value} for p in Priority],
        },
        {
            "type": "Input.Text",
            "id": "title",
            "label": _("What do you need?"),
            "isRequired": True,
            "maxLength": TITLE_MAX,
            "errorMessage": _("Say what you need."),
            "value": values.get("title", ""),
        },
        {
            "type": "Input.Text",
            "id": "description",
            "label": _("Details"),
            "isMultiline": True,
            "maxLength": DESCRIPTION_MAX,
            "value": values.get("description", ""),
        },
    ]
    return card(body, [submit(_("File it"), {"action": "file"}, "positive")])


def answer(message: str) -> Card:
    """A command's answer as a card (keeps line breaks that Teams text would fold)."""
    return card([text(line if line.strip() else " ") for line in message.split("\n")])
