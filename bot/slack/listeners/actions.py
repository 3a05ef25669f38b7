"""Buttons and selects: on the team card, in the survey, in DMs, in the form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import Command
from bot.commands import run_command
from bot.slack import answers, forms, messages, payloads, views
from bot.slack.desk import SlackDesk
from bot.slack.mrkdwn import escape, instant
from handlers import notices, survey, work
from models.directory import Person
from models.i18n import _


async def tell(client: AsyncWebClient, user: str, channel: str | None, text: str) -> None:
    """An answer only the person who pressed the button sees, sent at once: for
    what changed nothing (a refusal, a status). What confirms a stored change is
    queued with it instead (`confirm`)."""
    await client.chat_postEphemeral(channel=channel or user, user=user, text=text)


def confirm(
    session: AsyncSession, now: datetime, user: str, channel: str | None, text: str
) -> None:
    """Queue, in the transaction of the change, the confirmation only the person
    who pressed the button sees: an outage delays it, a crash does not lose it."""
    notices.answer(session, answers.privately_in(channel or user, user), text, now)


def _channel(press: payloads.ButtonPress | payloads.RatingPress) -> str | None:
    return press.channel.id if press.channel else None


def register(app: AsyncApp, desk: SlackDesk, wake_dispatch: Callable[[], None]) -> None:
    # Each listener reads its payload before acknowledging it: what does not fit is
    # answered by bot.slack.gate, and nothing has been done yet.
    def simple(
        action_id: str,
        use_case: Callable[[AsyncSession, Person, str], Awaitable[object]],
        done: Callable[[str], str] | None = None,
    ) -> None:
        @app.action(action_id)
        async def on_action(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            press = payloads.read(payloads.ButtonPress, body, payloads.STALE_BUTTON)
            await ack()
            value = press.value

            async def run(session: AsyncSession, person: Person) -> bool:
                await use_case(session, person, value)
                if done is None:
                    return False
                confirm(session, desk.clock.now(), press.user.id, _channel(press), done(value))
                return True

            outcome = await desk.attempt(client, press.user.id, run)
            if isinstance(outcome, str):
                await tell(client, press.user.id, _channel(press), outcome)
            elif outcome:
                wake_dispatch()

    simple(messages.ACTION_CLAIM, lambda s, p, key: work.claim(s, desk.clock, p, key))
    simple(messages.ACTION_WAIT, lambda s, p, key: work.wait_on_requester(s, desk.clock, p, key))
    simple(
        messages.ACTION_REOPEN,
        lambda s, p, key: survey.reopen(s, desk.clock, p, key),
        lambda key: _("{key} is reopened; the team has been told.", key=key),
    )

    @app.action(messages.ACTION_STATUS)
    async def status(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        press = payloads.read(payloads.ButtonPress, body, payloads.STALE_BUTTON)
        await ack()
        command = Command("status", key=press.value)

        async def run(session: AsyncSession, person: Person) -> str:
            return await run_command(session, desk.clock, person, command, escape, when=instant)

        answer = await desk.attempt(client, press.user.id, run)
        await tell(client, press.user.id, _channel(press), answer)

    @app.action(messages.RATE_PATTERN)
    async def rate(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        press = payloads.read(payloads.RatingPress, body, payloads.STALE_RATING)
        await ack()

        async def run(session: AsyncSession, person: Person) -> None:
            await survey.rate(session, desk.clock, person, press.key, press.rating)

        answer = await desk.attempt(client, press.user.id, run)
        if answer:
            await tell(client, press.user.id, _channel(press), answer)

    def team_form(action_id: str, kind: str) -> None:
        @app.action(action_id)
        async def open_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            press = payloads.read(payloads.FormButton, body, payloads.STALE_BUTTON)
            await ack()
            refusal = await forms.open_team_form(
                desk, client, press.user.id, press.trigger_id, kind, press.value
            )
            if refusal:
                await tell(client, press.user.id, _channel(press), refusal)

    team_form(messages.ACTION_RESOLVE, "resolve")
    team_form(messages.ACTION_ASSIGN, "assign")
    team_form(messages.ACTION_COMMENT, "comment")

    @app.action(messages.ACTION_FILE_FROM_MESSAGE)
    async def file_from_message(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        press = payloads.read(payloads.OfferPress, body, payloads.STALE_BUTTON)
        await ack()
        await forms.open_file_form(
            desk,
            client,
            press.user.id,
            press.trigger_id,
            text=press.offer.text,
            permalink=press.offer.permalink,
        )

    @app.action(views.TEAM_SELECT_ACTION)
    async def team_chosen(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Choosing a team in the form shows that team's categories."""
        chosen = payloads.read(payloads.TeamChosen, body, payloads.STALE_FORM)
        await ack()
        form = chosen.view

        async def build(session: AsyncSession, _person: Person) -> Any:
            return await forms.file_form(session, chosen.team_key, permalink=form.permalink)

        updated = await desk.act(client, chosen.user.id, build)
        await client.views_update(view_id=form.id, hash=form.hash, view=updated)
