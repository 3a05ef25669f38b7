"""`inhouse chat --as EMAIL`: type what you would type in Slack, see your notices.

Notices arrive on their own, as in Slack: a background task delivers the person's
notices every second or so, also while they are typing (the terminal prints them
above the input line), so nobody resolves a request again that was reopened
under their fingers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.command_line import parse
from bot.commands import help_text
from bot.console import render
from bot.console.channel import ConsoleChannel
from bot.console.shell import ConsoleDesk
from bot.console.terminal import Terminal, open_terminal
from handlers import filing
from handlers.access import active_teams
from handlers.catalog_cache import CachedTeam
from handlers.delivery import dispatch_due
from handlers.errors import DeskError
from handlers.people import Identity, resolve_person, teams_of
from models.clock import Clock
from models.i18n import _, reader

log = logging.getLogger(__name__)

# How often notices are looked for: about as soon as a chat app shows a message,
# and rare enough that a few open terminals do not keep the database busy.
POLL_SECONDS = 1.0

T = TypeVar("T")


async def chat(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    identity: Identity,
    *,
    terminal: Terminal | None = None,
    default_timezone: str = "UTC",
    language: str | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    terminal = terminal or open_terminal()
    desk = ConsoleDesk(sessions, clock, default_timezone, language)
    async with sessions.begin() as session:
        person = await resolve_person(session, identity)
        team_ids = frozenset(t.id for t in await teams_of(session, person.id))
        name, language = person.display_name, language or person.language
        timezone = person.timezone or default_timezone
    channel = ConsoleChannel(
        write=terminal.write,
        viewer_id=person.id,
        viewer_team_ids=team_ids,
        default_timezone=default_timezone,
        language=language,
        clock=clock,
    )
    # One thing on the screen at a time: a command and its answer, or a round of
    # notices; so the notices a command causes come after its answer.
    turn = asyncio.Lock()

    async def deliver() -> None:
        async with turn:
            # One screen: notices print in the order they were queued, not side by side.
            await dispatch_due(
                sessions, clock, [channel], owner=f"console:{person.id}", concurrency=1
            )

    with terminal.opened():
        with reader(language, timezone):
            terminal.write(
                _("Hello {name}. Type 'help' for what you can do, 'quit' to leave.", name=name)
            )
        await deliver()
        stop = asyncio.Event()
        poller = asyncio.create_task(_poll(deliver, poll_seconds, stop))
        try:
            conversation = _Conversation(sessions, desk, identity, terminal, turn)
            with reader(language, timezone):
                await conversation.run(deliver)
        finally:
            stop.set()
            await poller  # lets a round of delivery finish: nothing is left half-shown


async def _poll(deliver: Callable[[], Awaitable[None]], every: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            try:
                await deliver()
            except Exception:  # a busy database now is no reason to stop for good
                log.warning("could not fetch notices; trying again", exc_info=True)


class _Conversation:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        desk: ConsoleDesk,
        identity: Identity,
        terminal: Terminal,
        turn: asyncio.Lock,
    ) -> None:
        self.sessions, self.desk, self.identity = sessions, desk, identity
        self.terminal, self.turn = terminal, turn

    async def run(self, deliver: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                line = await self.terminal.ask("> ")
            except EOFError:
                return
            except KeyboardInterrupt:
                continue  # Ctrl-C drops the line being typed, as in a shell
            if line.strip().lower() in ("quit", "exit"):
                return
            if line.strip().lower() == "help":
                self.terminal.write(help_text())
            elif parse(line).verb == "form":
                try:
                    answer = await self._form()
                except KeyboardInterrupt:
                    answer = _("Nothing filed.")
                except EOFError:  # input ended halfway through: nothing is filed
                    return
                self.terminal.write(answer)
            elif line.strip():
                async with self.turn:
                    self.terminal.write(await self.desk.run(self.identity, line))
            await deliver()

    async def _form(self) -> str:
        """The console's version of the Slack modal: one question per field, each
        asked again until the answer is one the desk takes."""
        async with self.sessions() as session:
            teams = await active_teams(session)
        listing = ", ".join(f"{t.key} ({t.name})" for t in teams)

        async def team_named(answer: str) -> CachedTeam:
            async with self.sessions() as session:
                return await filing.check_team(session, answer)

        team = await self._ask(_("Team [{choices}]: ", choices=listing), team_named)
        categories = ", ".join(team.categories)
        category = (
            await self._ask(
                _("Category [{choices}]: ", choices=categories),
                _at_once(lambda answer: filing.check_category(team, answer)),
            )
            if categories
            else None
        )
        priority_prompt = _("Priority [{choices}]: ", choices=render.priority_choices())
        priority = await self._ask(
            priority_prompt,
            _at_once(
                lambda answer: filing.check_priority(render.priority_typed(answer) or "normal")
            ),
        )
        title = await self._ask(_("Title: "), _at_once(filing.check_title))
        description = await self._ask(_("Description: "), _at_once(filing.check_description))
        async with self.turn:
            return await self.desk.file(
                self.identity,
                team=team.key,
                title=title,
                description=description,
                category=category,
                priority=priority.value,
            )

    async def _ask(self, prompt: str, check: Callable[[str], Awaitable[T]]) -> T:
        """Ask until `check` takes the answer; each refusal says why, by the rules
        filing itself applies (the team list, the length limit...)."""
        while True:
            answer = await self.terminal.ask(prompt)
            try:
                return await check(answer)
            except DeskError as error:
                self.terminal.write("⚠ " + error.render(render.terminal))


def _at_once(check: Callable[[str], T]) -> Callable[[str], Awaitable[T]]:
    """A check that needs no database, in the shape of one that does."""

    async def checked(answer: str) -> T:
        return check(answer)

    return checked
