"""Events API: thread replies both ways, DMs (and group DMs with the bot), reactions,
the App Home.

Slack retries an event it thinks we missed (X-Slack-Retry-Num); each event id is
handled once, in the same transaction as what it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import parse
from bot.commands import run_command
from bot.slack import answers, messages, payloads, views
from bot.slack.desk import SlackDesk
from bot.slack.mrkdwn import escape, instant
from handlers import notices, queries, survey, work
from handlers.errors import DeskError
from handlers.inbound import first_time, thread_of
from handlers.people import teams_of
from models.directory import Person

log = logging.getLogger(__name__)

# Reactions on a survey message that count as an answer (see docs/slack.md).
SURVEY_REACTIONS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "-1": 1,
    "thumbsdown": 1,
    "+1": 5,
    "thumbsup": 5,
}
TICKET = "ticket"
# Conversations that are talking to the bot: a DM, and a group DM the bot is in
# (answered so that only the person who wrote sees it: the others did not ask).
DIRECT = ("im", "mpim")
SURVEY_KINDS = ("resolved", "survey_answered")


def register(app: AsyncApp, desk: SlackDesk, wake_dispatch: Callable[[], None]) -> None:
    # Bolt acknowledges events at once; each listener reads its event whole before
    # anything is done, and one that does not fit is answered by bot.slack.gate.
    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, other bots: not a person talking to the desk
        said = payloads.read(payloads.MessageDelivery, body)
        message = said.event
        if message.thread_ts and message.thread_ts != message.ts:
            await _thread_reply(desk, client, said.event_id, message, message.thread_ts)
        elif message.channel_type in DIRECT:
            await _direct_message(desk, client, said.event_id, message, wake_dispatch)

    @app.event("reaction_added")
    async def on_reaction(body: dict[str, Any], client: AsyncWebClient) -> None:
        delivered = payloads.read(payloads.ReactionDelivery, body)
        reacted = delivered.event
        item = reacted.item
        if item.type != "message" or item.channel is None or item.ts is None:
            return
        channel, ts, user = item.channel, item.ts, reacted.user
        if reacted.reaction == TICKET:
            await _offer_ticket(desk, client, user, channel, ts)
            return
        rating = SURVEY_REACTIONS.get(reacted.reaction.split("::")[0])
        if rating is None:
            return

        async def rate(session: AsyncSession, person: Person) -> None:
            if not await first_time(session, _once(delivered.event_id), desk.clock.now()):
                return
            link = await thread_of(session, "slack", channel, ts)
            if link is None or link.kind not in SURVEY_KINDS:
                return
            request = await queries.request_key(session, link.request_id)
            try:
                async with session.begin_nested():
                    await survey.rate(session, desk.clock, person, request, rating)
            except DeskError as error:
                await client.chat_postEphemeral(
                    channel=channel, user=user, text=error.render(escape)
                )

        await desk.act(client, user, rate)

    @app.event("app_home_opened")
    async def on_home(body: dict[str, Any], client: AsyncWebClient) -> None:
        opened = payloads.read(payloads.HomeOpened, body).event
        if opened.tab not in (None, "home"):
            return
        user_id = opened.user

        async def build(session: AsyncSession, person: Person) -> Any:
            mine = await queries.my_requests(session, desk.clock, person)
            queues = [
                await queries.team_queue(session, desk.clock, person, team.key)
                for team in await teams_of(session, person.id)
            ]
            return views.home(mine, queues)

        await client.views_publish(user_id=user_id, view=await desk.act(client, user_id, build))


def _once(event_id: str) -> str:
    """The key that makes a retried event (X-Slack-Retry-Num) count once."""
    return f"slack:{event_id}"


async def _thread_reply(
    desk: SlackDesk,
    client: AsyncWebClient,
    event_id: str,
    message: payloads.Said,
    thread_ts: str,
) -> None:
    """A reply under the team card, or under a DM about a request."""
    text = message.text
    internal = text.lstrip().startswith(desk.note_prefix)
    if internal:
        text = text.lstrip()[len(desk.note_prefix) :]

    async def relay(session: AsyncSession, person: Person) -> None:
        if not await first_time(session, _once(event_id), desk.clock.now()):
            return
        link = await thread_of(session, "slack", message.channel, thread_ts)
        if link is None:
            return  # a thread that is not about a request
        key = await queries.request_key(session, link.request_id)
        try:
            async with session.begin_nested():
                await work.reply(session, desk.clock, person, key, text, internal=internal)
        except DeskError as error:
            # Someone outside the team chatting in the card's thread is not a reply
            # to the requester; tell them privately rather than relay it.
            await client.chat_postEphemeral(
                channel=message.channel, user=message.user, text=error.render(escape)
            )

    await desk.act(client, message.user, relay)


async def _direct_message(
    desk: SlackDesk,
    client: AsyncWebClient,
    event_id: str,
    message: payloads.Said,
    wake_dispatch: Callable[[], None],
) -> None:
    """A DM (or group DM) to the bot: a query answered, anything else echoed with an
    offer to file it. The event is recorded as handled in the transaction that
    answers it, so the answer is queued in that transaction too: were it posted
    afterwards and Slack away, Slack's retry of the event would be ignored and the
    answer lost (docs/architecture.md, Outbox)."""
    text = message.text.strip()
    command = parse(text if text.startswith("/request") else "/request " + text)
    private = message.channel_type == "mpim"

    async def answer(session: AsyncSession, person: Person) -> bool:
        if not await first_time(session, _once(event_id), desk.clock.now()):
            return False
        blocks: list[Any] | None = None
        if command.verb in ("list", "queue", "status", "help"):
            reply = await run_command(session, desk.clock, person, command, escape, when=instant)
        else:
            reply = escape(text)
            blocks = [block.to_dict() for block in messages.offer_to_file(text, None)]
        where = (
            answers.privately_in(message.channel, message.user)
            if private
            else answers.in_dm(message.user)
        )
        notices.answer(session, where, reply[:3000], desk.clock.now(), blocks=blocks)
        return True

    try:
        queued = await desk.act(client, message.user, answer)
    except DeskError as error:
        # Rolled back, nothing stored (not even the event): told directly, only to
        # them, like every answer about nothing stored.
        await client.chat_postEphemeral(
            channel=message.channel, user=message.user, text=error.render(escape)
        )
        return
    if queued:
        wake_dispatch()


async def _offer_ticket(
    desk: SlackDesk, client: AsyncWebClient, user_id: str, channel: str, ts: str
) -> None:
    """:ticket: on a message: reactions carry no trigger for a modal, so offer a
    button (whose click does) to file the message as a request."""
    try:
        # The reaction names the message by its ts alone, also a reply in a thread,
        # which conversations.history does not list: conversations.replies finds
        # any message by its ts (with its thread's parent first, so pick ours).
        thread = await client.conversations_replies(
            channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True
        )
        found = [m for m in thread.get("messages") or [] if m.get("ts") == ts]
        text = str(found[0].get("text") or "") if found else ""
        link = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as error:
        log.warning("cannot read the message to file: %s", error.response.get("error"))
        return

    def offer() -> list[Any]:
        return messages.offer_to_file(text, str(link.get("permalink") or "") or None)

    blocks = await desk.speak_to(client, user_id, offer)
    await client.chat_postEphemeral(
        channel=channel, user=user_id, text=escape(text[:200]) or "…", blocks=blocks
    )
