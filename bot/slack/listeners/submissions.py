"""Modal submissions: bad input comes back as inline errors on the form."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console import render
from bot.slack import views
from bot.slack.desk import SlackDesk
from bot.slack.mrkdwn import escape, plain_text
from handlers import survey, work
from handlers.errors import DeskError
from handlers.filing import file_request
from models.directory import Person
from models.i18n import _


def field(view: dict[str, Any], block_id: str) -> str:
    """A form field's value: typed text or the chosen option, '' when empty."""
    for entry in (view["state"]["values"].get(block_id) or {}).values():
        if entry.get("selected_option"):
            return str(entry["selected_option"]["value"])
        return str(entry.get("value") or "")
    return ""


async def submit(
    desk: SlackDesk,
    ack: AsyncAck,
    client: AsyncWebClient,
    body: dict[str, Any],
    work_on: Callable[[AsyncSession, Person], Awaitable[str | None]],
    fields: dict[str, str],
) -> str | None:
    """Run the use case; on a DeskError, show it on the field it is about and keep
    the modal open. `fields` maps use-case field names to the form's block ids."""
    failure: dict[str, str] = {}

    async def guarded(session: AsyncSession, person: Person) -> str | None:
        try:
            async with session.begin_nested():
                return await work_on(session, person)
        except DeskError as error:
            block = fields.get(error.field or "", next(iter(fields.values())))
            failure[block] = error.render(plain_text)
            return None

    answer = await desk.act(client, body["user"]["id"], guarded)
    if failure:
        await ack(response_action="errors", errors=failure)
        return None
    await ack()
    return answer


def register(app: AsyncApp, desk: SlackDesk) -> None:
    @app.view(views.FILE_CALLBACK)
    async def file_submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = body["view"]
        permalink = json.loads(view.get("private_metadata") or "{}").get("permalink")
        description = field(view, "description")
        if permalink:
            description = (description + "\n\n" if description else "") + permalink

        async def run(session: AsyncSession, person: Person) -> str:
            filed = await file_request(
                session,
                desk.clock,
                person,
                team=field(view, "team"),
                title=field(view, "title"),
                description=description,
                category=field(view, "category") or None,
                priority=field(view, "priority") or "normal",
                source_ref=f"slack:view:{view['id']}",
            )
            return render.filed(filed.request, escape)

        answer = await submit(
            desk,
            ack,
            client,
            body,
            run,
            {
                "team": "team",
                "title": "title",
                "description": "description",
                "category": "category",
                "priority": "priority",
            },
        )
        if answer:
            user_id = body["user"]["id"]
            dm = await client.conversations_open(users=user_id)
            await client.chat_postMessage(channel=dm["channel"]["id"], text=answer)

    def note_form(
        callback_id: str,
        use_case: Callable[[AsyncSession, Person, str, str], Awaitable[object]],
        done: Callable[[str], str],
    ) -> None:
        @app.view(callback_id)
        async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            view = body["view"]
            key = str(view["private_metadata"])
            block = "assignee" if callback_id == views.ASSIGN_CALLBACK else "note"

            async def run(session: AsyncSession, person: Person) -> str:
                await use_case(session, person, key, field(view, block))
                return done(key)

            await submit(
                desk,
                ack,
                client,
                body,
                run,
                {
                    "note": block,
                    "text": block,
                    "comment": block,
                    "assignee": block,
                    "key": block,
                },
            )

    note_form(
        views.RESOLVE_CALLBACK,
        lambda s, p, key, note: work.resolve(s, desk.clock, p, key, note),
        lambda key: _("{key} is resolved.", key=key),
    )
    note_form(
        views.ASSIGN_CALLBACK,
        lambda s, p, key, email: work.assign(s, desk.clock, p, key, email),
        lambda key: _("{key} is assigned.", key=key),
    )
    note_form(
        views.COMMENT_CALLBACK,
        lambda s, p, key, text: survey.add_comment(s, desk.clock, p, key, text),
        lambda key: _("Thanks, your comment reached the team."),
    )
