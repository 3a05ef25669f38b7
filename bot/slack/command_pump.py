"""The command pump: carries out accepted quick-files (see models.inbox for why
they wait there) and queues each one's answer in the outbox.

One pump per serving process takes the inbox oldest first, one command at a
time: a burst queues in the database instead of piling up as concurrent
transactions on the event loop that has to acknowledge Slack within 3 seconds.
The listener nudges it after each acceptance; a slow poll picks up what another
process accepted and did not carry out (it stopped, or crashed, in between).

The answer ("Filed IT-7 …", or why nothing was filed) is an outbox notice
(NoticeKind.COMMAND_ANSWER) written in the transaction that takes and files the
command, so it says what was stored, and it is delivered like every notice: at the
command's response_url, by DM when that is spent, retried through outages
(bot.slack.answers). The pump nudges the dispatch loop after each commit, so the
answer still goes out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import ClientError, web
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import Command, parse
from bot.commands import needs_savepoint, run_command
from bot.slack import answers
from bot.slack.desk import PLATFORM, SlackDesk, Work
from bot.slack.mrkdwn import escape, instant
from bot.slack.workspaces import current_workspace
from handlers import inbox, notices
from models.directory import Person
from models.i18n import _

log = logging.getLogger(__name__)

# What one round reads from the inbox; the pump then reads again.
BATCH = 50
# Commands carried out in one transaction when nobody waits for an answer (one at a
# time otherwise, so a request arriving meanwhile waits for one filing at most).
QUIET_BATCH = 10
# On SQLite the process has one connection, so an acknowledgement arriving during a
# batch waits for all of it: there a batch is taken only once no request has come
# for this long (a burst acknowledged and now being filed), never between the
# requests of a stream (bot/slack/app.py).
SQLITE_BATCH_AFTER_SECONDS = 1.0
# A command accepted by a process that stopped before carrying it out waits at
# most this long for another process's pump.
POLL_SECONDS = 5.0
# A command whose filing fails with an error that is not an outage (a bug: the
# database and Slack answered, and something still broke) is tried this many times,
# then given up: taken from the inbox unfiled, and the person told so (an answer in
# the outbox, like every answer). Outages (the database or the network away) are
# not counted: the command waits in the inbox until it can be filed.
MAX_ATTEMPTS = 3
# A command that failed is tried again after a pause that doubles up to this,
# so a broken one never keeps the pump spinning.
RETRY_PAUSE = 2.0
LONGEST_PAUSE = 60.0
# How often the pump forgets the commands carried out more than
# handlers.inbox.DONE_KEPT ago, so their rows do not pile up.
FORGET_EVERY = 3600.0


class CommandPump:
    def __init__(
        self,
        desk: SlackDesk,
        client_for: Callable[[str | None], Awaitable[AsyncWebClient]],
        pace: Callable[[], Awaitable[bool]],
        wake_dispatch: Callable[[], None] = lambda: None,
        quiet_batch: Callable[[], int] = lambda: QUIET_BATCH,
    ) -> None:
        self._desk = desk
        # How many commands one transaction may carry out after a lull.
        self._quiet_batch = quiet_batch
        self._client_for = client_for
        self._pace = pace
        self._wake_dispatch = wake_dispatch
        self._wake = asyncio.Event()
        # Commands that failed, by inbox id: (failures so far, not before) in
        # loop-monotonic time. In memory: another process's pump tries at once.
        self._paused: dict[int, tuple[int, float]] = {}
        self._forgotten_at = float("-inf")

    def nudge(self) -> None:
        self._wake.set()

    async def lifespan(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the pump runs while the web app serves."""
        task = asyncio.create_task(self._run(), name="slack-command-pump")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self) -> int:
        """Carry out everything waiting now; how many commands this pump answered."""
        done = 0
        while True:
            # Even a read takes SQLite's one connection (BEGIN IMMEDIATE): after a lull.
            await self._pace()
            async with self._desk.sessions() as session:
                read = await inbox.waiting(session, PLATFORM, BATCH)
            if len(read) < BATCH:
                # Whatever failed here and is gone now was taken by another process.
                self._paused = {c.id: self._paused[c.id] for c in read if c.id in self._paused}
            waiting = [command for command in read if self._due(command)]
            if not waiting:
                return done
            while waiting:
                size = self._quiet_batch() if await self._pace() else 1
                batch, waiting = waiting[:size], waiting[size:]
                done += await self._carry_out_each(batch)

    def _due(self, command: inbox.Accepted) -> bool:
        paused = self._paused.get(command.id)
        return paused is None or paused[1] <= time.monotonic()

    async def _carry_out_each(self, batch: list[inbox.Accepted]) -> int:
        try:
            done = await self._carry_out(batch)
        except Exception as error:
            if len(batch) > 1:
                # One of them failed the whole transaction: find it, file the others.
                return sum([await self._carry_out_each([command]) for command in batch])
            await self._failed(batch[0], error)
            return 0
        for command in batch:
            self._paused.pop(command.id, None)
        if done:
            # Their answers are queued: the dispatch loop delivers them now.
            self._wake_dispatch()
        return done

    async def _failed(self, command: inbox.Accepted, error: Exception) -> None:
        failures = self._paused.get(command.id, (0, 0.0))[0] + 1
        pause = min(RETRY_PAUSE * 2 ** (failures - 1), LONGEST_PAUSE)
        self._paused[command.id] = (failures, time.monotonic() + pause)
        if _outage(error):
            # The database or the network is away: the command waits, uncounted.
            log.warning(
                "could not file a quick-file of %s (%r); trying again in %.0fs",
                command.user_id,
                error,
                pause,
            )
            return
        log.error("could not file a quick-file of %s", command.user_id, exc_info=error)
        async with self._desk.sessions.begin() as session:
            attempts = await inbox.failed(session, command)
            # Given up on, not carried out: delivered again, it is tried afresh.
            if attempts < MAX_ATTEMPTS or not await inbox.give_up(session, command):
                return
            answer = self._desk.could_not_file(command.user_id, command.text)
            self._queue_answer(session, command, answer)
        self._paused.pop(command.id, None)
        # What they typed only at DEBUG: logs at INFO and above carry no message text.
        log.error("gave up on a quick-file of %s after %d attempts", command.user_id, attempts)
        log.debug("the quick-file given up on read: %r", command.text)
        self._wake_dispatch()

    async def _run(self) -> None:
        while True:
            # Cleared before draining: a nudge that comes while we drain is kept.
            self._wake.clear()
            try:
                await self.drain()
                await self._forget_done()
            except Exception:
                # The commands stay in the inbox; the next round tries again.
                log.exception("the command pump failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _forget_done(self) -> None:
        if time.monotonic() - self._forgotten_at < FORGET_EVERY:
            return
        await self._pace()
        async with self._desk.sessions.begin() as session:
            forgotten = await inbox.forget_done(session, self._desk.clock.now())
        self._forgotten_at = time.monotonic()
        log.debug("forgot %d commands carried out long ago", forgotten)

    async def _carry_out(self, batch: list[inbox.Accepted]) -> int:
        repeats = [command for command in batch if command.repeat]
        if repeats:
            batch = [command for command in batch if not command.repeat]
            done = await self._answer_repeats(repeats)
            return done + (await self._carry_out(batch) if batch else 0)
        claimed = []
        for command in batch:
            client = await self._client_for(command.workspace)
            # The person is stored with the workspace the command came from.
            noted = current_workspace.set(command.workspace)
            try:
                identity = await self._desk.identity(client, command.user_id)
            finally:
                current_workspace.reset(noted)
            parsed = parse("/request " + command.text)
            claimed.append((command, identity, self._work(parsed), needs_savepoint(parsed)))
        return await self._desk.attempt_claimed(claimed, self._queue_answer)

    async def _answer_repeats(self, repeats: list[inbox.Accepted]) -> int:
        """Slack delivered these again after they were carried out (its Socket Mode
        envelope was not acknowledged in time): take them without acting again, and
        tell the person, whose second "Filing…" would otherwise stay unanswered."""
        taken = 0
        async with self._desk.sessions.begin() as session:
            for command in repeats:
                if not await inbox.take(session, command, self._desk.clock.now()):
                    continue
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
                self._queue_answer(session, command, answer)
                taken += 1
        return taken

    def _queue_answer(self, session: AsyncSession, command: inbox.Accepted, answer: str) -> None:
        notices.answer(
            session,
            answers.destination(command),
            answer,
            self._desk.clock.now(),
            received_at=command.received_at,
        )

    def _work(self, parsed: Command) -> Work[str]:
        async def work(session: AsyncSession, person: Person) -> str:
            return await run_command(
                session, self._desk.clock, person, parsed, escape, when=instant
            )

        return work


def _outage(error: BaseException) -> bool:
    """Whether a failure is the database or the network being away (retried for as
    long as it lasts), rather than something broken (counted)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error, OperationalError | InterfaceError | OSError | TimeoutError | ClientError
    )
