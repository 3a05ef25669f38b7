"""`/request ...`: file at once, open the form, or answer a query, ephemerally."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import STATS_VERB, Command, parse
from bot.commands import run_command, stats_for, stats_lines
from bot.slack import answers, forms, payloads
from bot.slack.command_pump import CommandPump
from bot.slack.desk import SlackDesk, filing_text
from bot.slack.mrkdwn import escape, instant
from handlers import notices
from handlers.digest import insight_to_payload
from models.directory import Person

log = logging.getLogger(__name__)
# Well inside Slack's 3 s acknowledgement window, with room for the answer to travel.
ACK_DEADLINE = 2.2


def register(
    app: AsyncApp, desk: SlackDesk, pump: CommandPump, wake_dispatch: Callable[[], None]
) -> None:
    @app.command("/request")
    async def request_command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        # Read whole before anything is done: a command without what it needs is
        # answered by bot.slack.gate, with nothing stored.
        sent = payloads.read(payloads.SlashCommand, body)
        user_id = sent.user_id
        command = parse("/request " + sent.text)
        if command.verb == "file":
            # Stored in one small insert before the acknowledgement, carried out by
            # the pump, answered through the outbox at the response_url: a burst of
            # requests never makes Slack wait (models.inbox).
            await ack(text=await _accepted(desk, pump, sent), response_type="ephemeral")
            return
        if command.verb == "form":
            # The trigger is valid for 3 seconds: acknowledge, then open at once.
            await ack()
            await forms.open_file_form(desk, client, user_id, sent.trigger_id)
            return

        if command.verb == STATS_VERB:
            await ack()
            await _stats(desk, client, sent, command, wake_dispatch)
            return

        async def work(session: AsyncSession, person: Person) -> str:
            return await run_command(session, desk.clock, person, command, escape, when=instant)

        await ack(
            text=await _in_time(desk, user_id, desk.attempt(client, user_id, work)),
            response_type="ephemeral",
        )


async def _accepted(desk: SlackDesk, pump: CommandPump, sent: payloads.SlashCommand) -> str:
    """The acknowledgement of a quick-file: "Filing…" once it is stored, "busy"
    only when it will not be.

    Slack gives up after 3 seconds. A command whose insert has not been sent by
    then is withdrawn, and the person is told nothing was done. One whose insert
    is on its way can no longer be withdrawn: the person is told it is being
    filed, and the write's outcome decides what follows at the response_url: the
    pump's answer once it is stored, or "not filed" if the write failed.
    """
    stored = desk.submit(
        delivery_key=sent.trigger_id,
        workspace=sent.team_id,
        user_id=sent.user_id,
        text=sent.text,
        reply_address=sent.response_url,
    )
    # Waited for, never cancelled by the wait: only `withdraw` takes a command back.
    done, _waiting = await asyncio.wait({stored}, timeout=ACK_DEADLINE)
    if not done:
        if desk.inbox_writer.withdraw(stored):
            log.warning("/request gave up after %ss: the desk is overloaded", ACK_DEADLINE)
            return desk.busy(sent.user_id)
        log.warning("/request: still being stored after %ss; its answer follows", ACK_DEADLINE)
        stored.add_done_callback(lambda ended: _stored_late(desk, pump, sent, ended))
        return desk.in_known_language(sent.user_id, filing_text)
    stored.result()  # a write that failed fails the listener: bot.slack.gate answers
    pump.nudge()
    return await desk.filing(sent.user_id)


# Tasks answering a command whose late write failed (kept until they end).
_telling: set[asyncio.Task[None]] = set()


def _stored_late(
    desk: SlackDesk, pump: CommandPump, sent: payloads.SlashCommand, done: asyncio.Future[None]
) -> None:
    """A write that outlasted the acknowledgement has ended: stored, the pump files
    it and answers; failed, nothing was stored, and the person hears so at once."""
    if not done.cancelled() and done.exception() is None:
        pump.nudge()
        return
    said = desk.could_not_file(sent.user_id, sent.text)
    task = asyncio.get_running_loop().create_task(answers.tell_directly(sent.response_url, said))
    _telling.add(task)
    task.add_done_callback(_telling.discard)


async def _in_time(desk: SlackDesk, user_id: str, step: Awaitable[str]) -> str:
    """The step's answer, or "busy" when it cannot finish before Slack gives up.

    Slack gives up after 3 seconds and Bolt then answers with an error of its own,
    so when the desk is overloaded we stop first, roll back, and say so: what the
    person is told and what is stored agree.
    """
    try:
        return await asyncio.wait_for(step, ACK_DEADLINE)
    except TimeoutError:
        log.warning("/request gave up after %ss: the desk is overloaded", ACK_DEADLINE)
        return desk.busy(user_id)


async def _stats(
    desk: SlackDesk,
    client: AsyncWebClient,
    sent: payloads.SlashCommand,
    command: Command,
    wake_dispatch: Callable[[], None],
) -> None:
    """The figures as text in the asker's DM with the bot, the chart as a picture
    in its thread (an ephemeral answer cannot carry a file). Queued in the outbox
    with the figures the chart is drawn from at delivery (a picture is too heavy a
    row), so Slack being away delays the answer instead of losing it."""
    queued: list[bool] = []

    async def work(session: AsyncSession, person: Person) -> str:
        lines = await stats_lines(session, desk.clock, person, command, escape)
        figures = await stats_for(session, desk.clock, person, command)
        said = "\n".join(lines)
        chart = {
            "insight": insight_to_payload(figures),
            "language": person.language,
            "timezone": person.timezone or desk.default_timezone,
        }
        notices.answer(session, answers.in_dm(sent.user_id), said, desk.clock.now(), chart=chart)
        queued.append(True)
        return said

    answer = await desk.attempt(client, sent.user_id, work)
    if queued:
        wake_dispatch()
        return
    # Refused (rolled back, nothing stored): told at once, only to them.
    await answers.tell_directly(sent.response_url, answer)
