"""Buttons and selects: on the team card, in the survey, in DMs, in the form."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import Command
from bot.commands import run_command
from bot.slack import forms, messages, views
from bot.slack.desk import SlackDesk
from bot.slack.mrkdwn import escape
from handlers import survey, work
from models.directory import Person
from models.i18n import _


async def tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """An answer only the person who pressed the button sees."""
    channel = (body.get("channel") or {}).get("id") or body["user"]["id"]
    await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def register(app: AsyncApp, desk: SlackDesk) -> None:
    def simple(
        action_id: str,
        use_case: Callable[[AsyncSession, Person, str], Awaitable[object]],
        done: Callable[[str], str] | None = None,
    ) -> None:
        @app.action(action_id)
        async def on_action(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            value = str(body["actions"][0]["value"])

            async def run(session: AsyncSession, person: Person) -> str | None:
                await use_case(session, person, value)
                return done(value) if done else None

            answer = await desk.attempt(client, body["user"]["id"], run)
            if answer:
                await tell(client, body, answer)

    simple(messages.ACTION_CLAIM, lambda s, p, key: work.claim(s, desk.clock, p, key))
    simple(messages.ACTION_WAIT, lambda s, p, key: work.wait_on_requester(s, desk.clock, p, key))
    simple(
        messages.ACTION_REOPEN,
        lambda s, p, key: survey.reopen(s, desk.clock, p, key),
        lambda key: _("{key} is reopened; the team has been told.", key=key),
    )

    @app.action(messages.ACTION_STATUS)
    async def status(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        command = Command("status", key=str(body["actions"][0]["value"]))

        async def run(session: AsyncSession, person: Person) -> str:
            return await run_command(session, desk.clock, person, command, escape)

        await tell(client, body, await desk.attempt(client, body["user"]["id"], run))

    @app.action(messages.RATE_PATTERN)
    async def rate(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        key, _sep, rating = str(body["actions"][0]["value"]).partition("|")

        async def run(session: AsyncSession, person: Person) -> None:
            await survey.rate(session, desk.clock, person, key, int(rating))

        answer = await desk.attempt(client, body["user"]["id"], run)
        if answer:
            await tell(client, body, answer)

    def team_form(action_id: str, kind: str) -> None:
        @app.action(action_id)
        async def open_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            refusal = await forms.open_team_form(
                desk,
                client,
                body["user"]["id"],
                str(body["trigger_id"]),
                kind,
                str(body["actions"][0]["value"]),
            )
            if refusal:
                await tell(client, body, refusal)

    team_form(messages.ACTION_RESOLVE, "resolve")
    team_form(messages.ACTION_ASSIGN, "assign")
    team_form(messages.ACTION_COMMENT, "comment")

    @app.action(messages.ACTION_FILE_FROM_MESSAGE)
    async def file_from_message(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        value = json.loads(body["actions"][0]["value"])
        await forms.open_file_form(
            desk,
            client,
            body["user"]["id"],
            str(body["trigger_id"]),
            text=str(value.get("text") or ""),
            permalink=value.get("permalink"),
        )

    @app.action(views.TEAM_SELECT_ACTION)
    async def team_chosen(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Choosing a team in the form shows that team's categories."""
        await ack()
        view = body["view"]
        team_key = str(body["actions"][0]["selected_option"]["value"])
        metadata = json.loads(view.get("private_metadata") or "{}")

        async def build(session: AsyncSession, _person: Person) -> Any:
            return await forms.file_form(session, team_key, permalink=metadata.get("permalink"))

        updated = await desk.act(client, body["user"]["id"], build)
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=updated)
