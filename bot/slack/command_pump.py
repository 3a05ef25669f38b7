"""The command pump: carries out accepted quick-files and answers through their
response_url (see models.inbox for why they wait there).

One pump per serving process takes the inbox oldest first, one command at a
time: a burst queues in the database instead of piling up as concurrent
transactions on the event loop that has to acknowledge Slack within 3 seconds.
The listener nudges it after each acceptance; a slow poll picks up what another
process accepted and did not carry out (it stopped, or crashed, in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import Command, parse
from bot.commands import run_command
from bot.slack.desk import PLATFORM, SlackDesk, Work
from bot.slack.mrkdwn import escape, instant
from bot.slack.retries import retry_handlers
from bot.slack.workspaces import current_workspace
from handlers import inbox
from models.directory import Person
from models.i18n import _

log = logging.getLogger(__name__)

# What one round reads from the inbox; the pump then reads again.
BATCH = 50
# Commands carried out in one transaction when nobody waits for an answer (one at a
# time otherwise, so a request arriving meanwhile waits for one filing at most).
QUIET_BATCH = 10
# A command accepted by a process that stopped before carrying it out waits at
# most this long for another process's pump.
POLL_SECONDS = 5.0
# Failed attempts at one command before the person is told it was not filed.
MAX_ATTEMPTS = 3


class CommandPump:
    def __init__(
        self,
        desk: SlackDesk,
        client_for: Callable[[str | None], Awaitable[AsyncWebClient]],
        pace: Callable[[], Awaitable[bool]],
    ) -> None:
        self._desk = desk
        self._client_for = client_for
        self._pace = pace
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None

    def nudge(self) -> None:
        self._wake.set()

    async def lifespan(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the pump runs while the web app serves."""
        self._http = aiohttp.ClientSession()
        task = asyncio.create_task(self._run(), name="slack-command-pump")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._http.close()

    async def drain(self) -> int:
        """Carry out everything waiting now; how many commands this pump answered."""
        done = 0
        while True:
            async with self._desk.sessions() as session:
                waiting = await inbox.waiting(session, PLATFORM, BATCH)
            if not waiting:
                return done
            while waiting:
                size = QUIET_BATCH if await self._pace() else 1
                batch, waiting = waiting[:size], waiting[size:]
                done += await self._carry_out_each(batch)

    async def _carry_out_each(self, batch: list[inbox.Accepted]) -> int:
        try:
            return await self._carry_out(batch)
        except Exception:
            if len(batch) > 1:
                # One of them failed the whole transaction: find it, file the others.
                return sum([await self._carry_out_each([command]) for command in batch])
            # A bug or an outage, not a refusal (those are answers): try again a few
            # times, but never let one command hold up the others.
            log.exception("could not file a quick-file of %s", batch[0].user_id)
            await self._failed(batch[0])
            return 0

    async def _failed(self, command: inbox.Accepted) -> None:
        async with self._desk.sessions.begin() as session:
            attempts = await inbox.failed(session, command)
            # Given up on, not carried out: delivered again, it is tried afresh.
            if attempts < MAX_ATTEMPTS or not await inbox.take(session, command, carried_out=False):
                return
        # What they typed only at DEBUG: logs at INFO and above carry no message text.
        log.error("gave up on a quick-file of %s after %d attempts", command.user_id, attempts)
        log.debug("the quick-file given up on read: %r", command.text)
        answer = self._desk.could_not_file(command.user_id, command.text)
        await self._reply(command, answer, await self._client_for(command.workspace))

    async def _run(self) -> None:
        while True:
            # Cleared before draining: a nudge that comes while we drain is kept.
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                # The commands stay in the inbox; the next round tries again.
                log.exception("the command pump failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _carry_out(self, batch: list[inbox.Accepted]) -> int:
        repeats = [command for command in batch if command.repeat]
        if repeats:
            batch = [command for command in batch if not command.repeat]
            done = await self._answer_repeats(repeats)
            return done + (await self._carry_out(batch) if batch else 0)
        claimed = []
        clients: dict[int, AsyncWebClient] = {}
        for command in batch:
            client = clients[command.id] = await self._client_for(command.workspace)
            # The person is stored with the workspace the command came from.
            noted = current_workspace.set(command.workspace)
            try:
                identity = await self._desk.identity(client, command.user_id)
            finally:
                current_workspace.reset(noted)
            claimed.append((command, identity, self._work(parse("/request " + command.text))))
        answers = await self._desk.attempt_claimed(claimed)
        for command, answer in answers:
            await self._reply(command, answer, clients[command.id])
        return len(answers)

    async def _answer_repeats(self, repeats: list[inbox.Accepted]) -> int:
        """Slack delivered these again after they were carried out (its Socket Mode
        envelope was not acknowledged in time): take them without acting again, and
        tell the person, whose second "Filing…" would otherwise stay unanswered."""
        async with self._desk.sessions.begin() as session:
            taken = [command for command in repeats if await inbox.take(session, command)]
        for command in taken:
            answer = self._desk.in_known_language(
                command.user_id,
                lambda: (
                    "✅ "
                    + _(
                        "That command reached the desk twice and was carried out once. "
                        "/request list shows your requests."
                    )
                ),
            )
            await self._reply(command, answer, await self._client_for(command.workspace))
        return len(taken)

    def _work(self, parsed: Command) -> Work[str]:
        async def work(session: AsyncSession, person: Person) -> str:
            return await run_command(
                session, self._desk.clock, person, parsed, escape, when=instant
            )

        return work

    async def _reply(self, command: inbox.Accepted, answer: str, client: AsyncWebClient) -> None:
        # The answer replaces the "Filing…" acknowledgement. The work is committed
        # already, so if the response_url is gone (30 minutes, 5 uses) the answer
        # goes to the person's DM with the bot instead.
        webhook = AsyncWebhookClient(
            command.reply_address,
            session=self._http,
            retry_handlers=retry_handlers(),
        )
        try:
            response = await webhook.send(
                text=answer, response_type="ephemeral", replace_original=True
            )
            if response.status_code == 200:
                return
            problem = f"{response.status_code} {response.body}"
        except aiohttp.ClientError as error:
            problem = str(error)
        log.warning("response_url failed for %s (%s); answering by DM", command.user_id, problem)
        try:
            await client.chat_postMessage(channel=command.user_id, text=answer)
        except SlackApiError as error:
            log.warning("could not answer %s: %s", command.user_id, error.response.get("error"))
