"""Acting as a person: the one way every channel runs a use case for someone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.errors import DeskError
from handlers.people import Identity, resolve_person
from models.directory import Person
from models.i18n import reader

T = TypeVar("T")


async def attempt_as(
    sessions: async_sessionmaker[AsyncSession],
    identity: Identity,
    work: Callable[[AsyncSession, Person], Awaitable[T]],
    *,
    esc: Callable[[str], str],
    default_timezone: str,
    language: str | None = None,
    warning: str = "⚠️",
    savepoint: bool = True,
) -> T | str:
    """Run `work` as this person, in their language (or `language`) and time zone,
    in one transaction (one write lock, one commit); see `attempt_in`."""
    async with sessions.begin() as session:
        return await attempt_in(
            session,
            identity,
            work,
            esc=esc,
            default_timezone=default_timezone,
            language=language,
            warning=warning,
            savepoint=savepoint,
        )


async def attempt_in(
    session: AsyncSession,
    identity: Identity,
    work: Callable[[AsyncSession, Person], Awaitable[T]],
    *,
    esc: Callable[[str], str],
    default_timezone: str,
    language: str | None = None,
    warning: str = "⚠️",
    savepoint: bool = True,
) -> T | str:
    """Run `work` as this person inside the caller's transaction.

    The work runs in a savepoint so a refusal undoes it while the person's profile
    (and whatever the caller wrote before) is still kept, and a DeskError comes
    back as its message for the person (escaped by `esc`, the channel's escaping)
    rather than as an exception.

    `savepoint=False` is for work that refuses only before its first write (a
    quick-file, bot.commands.needs_savepoint): a refusal then has nothing to undo,
    and the savepoint's two statements are saved.
    """
    person = await resolve_person(session, identity)
    with reader(language or person.language, person.timezone or default_timezone):
        try:
            if not savepoint:
                return await work(session, person)
            async with session.begin_nested():
                return await work(session, person)
        except DeskError as error:
            return f"{warning} {error.render(esc)}"
