"""Run one typed command for one person and answer in text (the console channel)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.acting import attempt_as
from bot.command_line import parse
from bot.commands import run_command
from bot.console import render
from handlers.filing import file_request
from handlers.people import Identity
from models.clock import Clock
from models.directory import Person


@dataclass
class ConsoleDesk:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    # For people whose chat profile and catalog entry name no time zone.
    default_timezone: str = "UTC"
    # The terminal's language (--lang or LANG): the reader is whoever sits at it.
    language: str | None = None

    async def run(self, identity: Identity, line: str) -> str:
        """The answer the person sees; errors are answers too, never tracebacks."""
        command = parse(line)

        async def work(session: AsyncSession, person: Person) -> str:
            return await run_command(session, self.clock, person, command, render.terminal)

        return await self._attempt(identity, work)

    async def file(
        self,
        identity: Identity,
        *,
        team: str,
        title: str,
        description: str = "",
        category: str | None = None,
        priority: str = "normal",
    ) -> str:
        """Filing from the console's step-by-step form."""

        async def work(session: AsyncSession, person: Person) -> str:
            result = await file_request(
                session,
                self.clock,
                person,
                team=team,
                title=title,
                description=description,
                category=category,
                priority=priority,
            )
            return render.filed(result.request, render.terminal)

        return await self._attempt(identity, work)

    async def _attempt(
        self, identity: Identity, work: Callable[[AsyncSession, Person], Awaitable[str]]
    ) -> str:
        return await attempt_as(
            self.sessions,
            identity,
            work,
            esc=render.terminal,
            default_timezone=self.default_timezone,
            language=self.language,
            warning="⚠",
        )
