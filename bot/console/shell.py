"""Run one typed command for one person and answer in text (the console channel)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.command_line import parse
from bot.commands import run_command
from bot.console import render
from handlers.errors import DeskError
from handlers.filing import file_request
from handlers.people import Identity, resolve_person
from models.clock import Clock
from models.directory import Person
from models.i18n import reader


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
        async with self.sessions() as session:
            person = await self._person(session, identity)
            with reader(self.language or person.language, person.timezone or self.default_timezone):
                try:
                    async with session.begin():
                        return await run_command(session, self.clock, person, command)
                except DeskError as error:
                    return "⚠ " + error.render()

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
        async with self.sessions() as session:
            person = await self._person(session, identity)
            with reader(self.language or person.language, person.timezone or self.default_timezone):
                try:
                    async with session.begin():
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
                        return render.filed(result.request)
                except DeskError as error:
                    return "⚠ " + error.render()

    async def _person(self, session: AsyncSession, identity: Identity) -> Person:
        async with session.begin():
            person = await resolve_person(session, identity)
        return person
