"""The desk as the Teams bot sees it: who sent an activity, and running a use
case for them in one transaction, in their language and time zone."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.acting import attempt_as
from bot.profiles import Expiring
from bot.teams.cards import plain
from handlers.people import Identity
from models.clock import Clock
from models.directory import Person

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class TeamsDesk:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    default_timezone: str = "UTC"
    note_prefix: str = "!note"
    # The roster's email per Teams user, "" when it has none (asked again after
    # PROFILE_TTL: looking it up costs a call to Teams).
    _emails: Expiring[str] = field(init=False)

    def __post_init__(self) -> None:
        self._emails = Expiring(self.clock)

    async def identity(self, turn: TurnContext) -> Identity:
        """Who sent the activity. Its locale and time zone come with every activity,
        so a change in the person's Teams settings counts from their next message;
        only the email (the roster, or the catalog) is remembered for a while."""
        sender = turn.activity.from_property
        user_id = str(sender.id)
        email = self._emails.get(user_id)
        if email is None:
            async with self.sessions() as session:
                known = await session.scalar(select(Person).where(Person.teams_user_id == user_id))
            email = (known.email if known else None) or await _email(turn, user_id) or ""
            self._emails.put(user_id, email)
        return Identity(
            teams_user_id=user_id,
            email=email or None,
            display_name=(sender.name or "")[:200] or None,
            timezone=_zone(turn.activity.local_timezone),
            language=_language(turn.activity.locale),
        )

    async def attempt(
        self, turn: TurnContext, work: Callable[[AsyncSession, Person], Awaitable[T]]
    ) -> T | str:
        """Run `work` as the sender; a DeskError comes back as its message, and
        whatever `work` wrote is rolled back."""
        identity = await self.identity(turn)
        return await attempt_as(
            self.sessions, identity, work, esc=plain, default_timezone=self.default_timezone
        )


# A language tag as Teams sends it ("de-DE"); the profile column holds 16 characters.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8}){0,2}")


def _language(locale: str | None) -> str | None:
    """The activity's locale when it is a language tag; the profile keeps it."""
    return locale if locale and len(locale) <= 16 and _LANGUAGE_TAG.fullmatch(locale) else None


def _zone(name: str | None) -> str | None:
    """The activity's time zone when this machine knows it. The profile keeps it and
    every later notice is rendered in it, so an unknown one must not get in."""
    if not name or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None
    return name


async def _email(turn: TurnContext, user_id: str) -> str | None:
    """Teams activities carry no email; the roster does (matches catalog people)."""
    try:
        member = await TeamsInfo.get_member(turn, user_id)
    except Exception as error:  # the roster is a nicety: the desk works without it
        log.warning("Teams roster lookup failed for %s: %s", user_id, error)
        return None
    found = member.email or member.user_principal_name
    return str(found) if found else None
