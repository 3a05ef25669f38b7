"""Modal submissions: bad input comes back as inline errors on the form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console import render
from bot.slack import answers, payloads, views
from bot.slack.desk import SlackDesk
from bot.slack.mrkdwn import escape, instant, plain_text
from handlers import notices, survey, work
from handlers.errors import DeskError
from handlers.filing import file_request
from models.directory import Person
from models.i18n import _


async def submit(
    desk: SlackDesk,
    ack: AsyncAck,
    client: AsyncWebClient,
    user_id: str,
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

    answer = await desk.act(client, user_id, guarded)
    if failure:
        await ack(response_action="errors", errors=failure)
        return None
    await ack()
    return answer


def register(app: AsyncApp, desk: SlackDesk, wake_dispatch: Callable[[], None]) -> None:
    # Each form is read whole before anything is done: one that does not fit is
    # answered by bot.slack.gate (the person is told to open it again).
    @app.view(views.FILE_CALLBACK)
    async def file_submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        form = payloads.read(payloads.FileSubmission, body, payloads.STALE_FORM)
        view = form.view
        permalink = view.private_metadata.permalink if view.private_metadata else None
        description = form.field("description")
        if permalink:
            description = (description + "\n\n" if description else "") + permalink

        async def run(session: AsyncSession, person: Person) -> str:
            filed = await file_request(
                session,
                desk.clock,
                person,
                team=form.field("team"),
                title=form.field("title"),
                description=description,
                category=form.field("category") or None,
                priority=form.field("priority") or "normal",
                source_ref=f"slack:view:{view.id}",
            )
            said = render.filed(filed.request, escape, instant)
            # "Filed …" is queued with the request it reports: it reaches the person
            # once, also when Slack is away right now (docs/architecture.md, Outbox).
            notices.answer(session, answers.in_dm(form.user.id), said, desk.clock.now())
            return said

        answer = await submit(
            desk,
            ack,
            client,
            form.user.id,
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
            wake_dispatch()  # the answer is queued: delivered now

    def note_form(
        callback_id: str,
        use_case: Callable[[AsyncSession, Person, str, str], Awaitable[object]],
        done: Callable[[str], str],
    ) -> None:
        @app.view(callback_id)
        async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            form = payloads.read(payloads.NoteSubmission, body, payloads.STALE_FORM)
            key = form.view.private_metadata
            block = "assignee" if callback_id == views.ASSIGN_CALLBACK else "note"

            async def run(session: AsyncSession, person: Person) -> str:
                await use_case(session, person, key, form.field(block))
                return done(key)

            await submit(
                desk,
                ack,
                client,
                form.user.id,
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
