"""Modals and the App Home, as slack_sdk View models."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.console.render import priority_label, status_label, time_left_label
from bot.slack.mrkdwn import escape, plain_text
from handlers.queries import Queue, QueueItem
from models.i18n import _
from models.requests import COMMENT_MAX, DESCRIPTION_MAX, TITLE_MAX
from models.vocabulary import Priority, Status

FILE_CALLBACK = "file_request"
RESOLVE_CALLBACK = "resolve_request"
ASSIGN_CALLBACK = "assign_request"
COMMENT_CALLBACK = "survey_comment"
TEAM_SELECT_ACTION = "team"
NOTE_MAX = DESCRIPTION_MAX


def file_modal(
    teams: list[tuple[str, str]],
    team_key: str | None,
    categories: list[str],
    *,
    title: str = "",
    description: str = "",
    permalink: str | None = None,
) -> View:
    """The request form. Choosing a team re-renders it with that team's categories."""
    team_options = [Option(value=key, text=plain_text(name)[:75]) for key, name in teams][:100]
    chosen = next((o for o in team_options if o.value == team_key), None)
    blocks: list[Block] = [
        InputBlock(
            block_id="team",
            label=_("Team"),
            dispatch_action=True,
            element=StaticSelectElement(
                action_id=TEAM_SELECT_ACTION,
                placeholder=_("Who should help?"),
                options=team_options,
                initial_option=chosen,
            ),
        )
    ]
    if categories:
        blocks.append(
            InputBlock(
                block_id="category",
                label=_("Category"),
                optional=True,
                element=StaticSelectElement(
                    action_id="category",
                    options=[Option(value=c[:150], text=plain_text(c)[:75]) for c in categories][
                        :100
                    ],
                ),
            )
        )
    priorities = [Option(value=p.value, text=priority_label(p)) for p in Priority]
    blocks += [
        InputBlock(
            block_id="priority",
            label=_("Priority"),
            element=StaticSelectElement(
                action_id="priority",
                options=priorities,
                initial_option=priorities[2],
            ),
        ),
        InputBlock(
            block_id="title",
            label=_("What do you need?"),
            element=PlainTextInputElement(
                action_id="title",
                initial_value=title[:TITLE_MAX] or None,
                max_length=TITLE_MAX,
            ),
        ),
        InputBlock(
            block_id="description",
            label=_("Details"),
            optional=True,
            element=PlainTextInputElement(
                action_id="description",
                multiline=True,
                initial_value=description[:DESCRIPTION_MAX] or None,
                max_length=DESCRIPTION_MAX,
            ),
        ),
    ]
    if permalink:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=_("From this message: {link}", link=escape(permalink)))
                ]
            )
        )
    return View(
        type="modal",
        callback_id=FILE_CALLBACK,
        title=_("New request")[:24],
        submit=_("File it")[:24],
        close=_("Cancel")[:24],
        private_metadata=json.dumps({"permalink": permalink})[:3000],
        blocks=blocks,
    )


def _note_modal(callback_id: str, key: str, title: str, label: str, limit: int) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=title[:24],
        submit=_("Send")[:24],
        close=_("Cancel")[:24],
        private_metadata=key,
        blocks=[
            InputBlock(
                block_id="note",
                label=label,
                element=PlainTextInputElement(action_id="note", multiline=True, max_length=limit),
            )
        ],
    )


def resolve_modal(key: str) -> View:
    return _note_modal(
        RESOLVE_CALLBACK,
        key,
        _("Resolve {key}", key=key),
        _("What was done? The requester will read this."),
        NOTE_MAX,
    )


def comment_modal(key: str) -> View:
    return _note_modal(
        COMMENT_CALLBACK, key, _("About {key}", key=key), _("What went wrong?"), COMMENT_MAX
    )


def assign_modal(key: str, members: list[tuple[str, str]]) -> View:
    return View(
        type="modal",
        callback_id=ASSIGN_CALLBACK,
        title=_("Assign {key}", key=key)[:24],
        submit=_("Assign")[:24],
        close=_("Cancel")[:24],
        private_metadata=key,
        blocks=[
            InputBlock(
                block_id="assignee",
                label=_("Who takes it?"),
                element=StaticSelectElement(
                    action_id="assignee",
                    options=[
                        Option(value=email[:150], text=plain_text(name)[:75])
                        for email, name in members
                    ][:100],
                ),
            )
        ],
    )


def home(mine: list[QueueItem], queues: list[Queue]) -> View:
    blocks: list[Block] = [HeaderBlock(text=_("My requests"))]
    blocks += _items(mine, _("You have no open requests. Type /request to ask for help."))
    for queue in queues:
        blocks += [DividerBlock(), HeaderBlock(text=_("Queue: {team}", team=queue.team.name)[:150])]
        blocks += _items(queue.items, _("Nothing in the queue."))
    return View(type="home", blocks=blocks[:100])


def _items(items: list[QueueItem], empty: str) -> list[Block]:
    if not items:
        return [SectionBlock(text=MarkdownTextObject(text=empty))]
    lines = []
    for item in items[:40]:
        r = item.request
        line = f"*{r.key}* · {escape(r.title)} · {status_label(r.status)}"
        if r.status not in (Status.RESOLVED, Status.CLOSED):
            line += f" · {time_left_label(item.time_left)}"
        lines.append(line)
    return [SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:3000]))]
