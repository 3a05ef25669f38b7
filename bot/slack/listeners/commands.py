"""`/request ...`: file at once, open the form, or answer a query, ephemerally."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import parse
from bot.commands import run_command
from bot.slack import forms
from bot.slack.desk import SlackDesk
from bot.slack.mrkdwn import escape
from models.directory import Person


def register(app: AsyncApp, desk: SlackDesk) -> None:
    @app.command("/request")
    async def request_command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str(body["user_id"])
        command = parse("/request " + str(body.get("text") or ""))
        if command.verb == "form":
            # The trigger is valid for 3 seconds: acknowledge, then open at once.
            await ack()
            await forms.open_file_form(desk, client, user_id, str(body["trigger_id"]))
            return

        async def work(session: AsyncSession, person: Person) -> str:
            return await run_command(session, desk.clock, person, command, escape)

        # Filing writes before the acknowledgement: an acked request is a stored one.
        answer = await desk.attempt(client, user_id, work)
        await ack(text=answer, response_type="ephemeral")
