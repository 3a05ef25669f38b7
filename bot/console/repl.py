"""`inhouse chat --as EMAIL`: type what you would type in Slack, see your notices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.command_line import parse
from bot.commands import help_text
from bot.console import render
from bot.console.channel import ConsoleChannel
from bot.console.shell import ConsoleDesk
from handlers.access import active_teams
from handlers.delivery import dispatch_due
from handlers.people import Identity, resolve_person, teams_of
from models.clock import Clock
from models.i18n import _, reader

Ask = Callable[[str], str]


async def chat(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    identity: Identity,
    *,
    ask: Ask = input,
    write: Callable[[str], None] = print,
    default_timezone: str = "UTC",
    language: str | None = None,
) -> None:
    desk = ConsoleDesk(sessions, clock, default_timezone, language)
    async with sessions.begin() as session:
        person = await resolve_person(session, identity)
        team_ids = frozenset(t.id for t in await teams_of(session, person.id))
        name, language = person.display_name, language or person.language
        timezone = person.timezone or default_timezone
    channel = ConsoleChannel(
        write=write,
        viewer_id=person.id,
        viewer_team_ids=team_ids,
        default_timezone=default_timezone,
        language=language,
        clock=clock,
    )
    with reader(language, timezone):
        write(_("Hello {name}. Type 'help' for what you can do, 'quit' to leave.", name=name))
    while True:
        await dispatch_due(sessions, clock, [channel], owner=f"console:{person.id}")
        try:
            line = await asyncio.to_thread(ask, "> ")
        except EOFError:
            break
        if line.strip().lower() in ("quit", "exit"):
            break
        if line.strip().lower() == "help":
            with reader(language, timezone):
                write(help_text())
            continue
        if parse(line).verb == "form":
            write(await _form(sessions, desk, identity, ask, language, timezone))
            continue
        if line.strip():
            write(await desk.run(identity, line))


async def _form(
    sessions: async_sessionmaker[AsyncSession],
    desk: ConsoleDesk,
    identity: Identity,
    ask: Ask,
    language: str | None,
    timezone: str,
) -> str:
    """The console's version of the Slack modal: one question per field."""
    async with sessions() as session:
        teams = await active_teams(session)
        choices = {t.key: t for t in teams}
    with reader(language, timezone):
        listing = ", ".join(f"{t.key} ({t.name})" for t in teams)
        team = await asyncio.to_thread(ask, _("Team [{choices}]: ", choices=listing))
        chosen = choices.get(team.strip().lower())
        categories = ", ".join(chosen.categories) if chosen and chosen.categories else ""
        category = (
            await asyncio.to_thread(ask, _("Category [{choices}]: ", choices=categories))
            if categories
            else ""
        )
        priority = await asyncio.to_thread(
            ask, _("Priority [{choices}]: ", choices=render.priority_choices())
        )
        priority = render.priority_typed(priority)
        title = await asyncio.to_thread(ask, _("Title: "))
        description = await asyncio.to_thread(ask, _("Description: "))
    return await desk.file(
        identity,
        team=team,
        title=title,
        description=description,
        category=category or None,
        priority=priority or "normal",
    )
