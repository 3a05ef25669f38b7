"""The desk as Slack listeners see it: who a Slack user is, and running a use
case for them in one transaction, in their language and time zone."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.acting import attempt_as, attempt_in
from bot.inbox_writer import InboxWriter
from bot.profiles import Expiring, StoredLanguages
from bot.slack.mrkdwn import escape
from bot.slack.workspaces import current_workspace
from handlers import inbox
from handlers.people import Identity, resolve_person
from models.clock import Clock
from models.directory import Person
from models.i18n import _, reader

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncSession, Person], Awaitable[T]]
PLATFORM = "slack"


def filing_text() -> str:
    """What a quick-file is acknowledged with (in the reader's language)."""
    return "⏳ " + _("Filing your request…")


@functools.lru_cache(maxsize=64)
def _filing_text_in(language: str | None) -> str:
    """`filing_text` rendered once per language tag: every quick-file is acknowledged
    with it, and it names no time."""
    with reader(language, "UTC"):
        return filing_text()


@dataclass
class SlackDesk:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    inbox_writer: InboxWriter
    default_timezone: str = "UTC"
    # Replies in a card's thread that start with this stay with the team.
    note_prefix: str = "!note"
    _profiles: Expiring[Identity] = field(init=False)
    _languages: StoredLanguages = field(init=False)

    def __post_init__(self) -> None:
        self._profiles = Expiring(self.clock)
        self._languages = StoredLanguages(self.sessions, self.clock)

    async def identity(self, client: AsyncWebClient, user_id: str) -> Identity:
        """Who this Slack user is: users.info at most once per user every
        PROFILE_TTL, so a changed time zone or language is followed soon.

        A person whose time zone and language the catalog sets needs no API call.
        """
        cached = self._profiles.get(user_id)
        if cached is not None:
            return cached
        async with self.sessions() as session:
            known = await session.scalar(select(Person).where(Person.slack_user_id == user_id))
        if known is not None and known.timezone_from_catalog and known.language_from_catalog:
            identity = Identity(
                slack_user_id=user_id, email=known.email, slack_workspace=current_workspace.get()
            )
        else:
            identity = await self._profile(client, user_id)
        self._profiles.put(user_id, identity)
        return identity

    async def _profile(self, client: AsyncWebClient, user_id: str) -> Identity:
        try:
            response = await client.users_info(user=user_id, include_locale=True)
        except (SlackApiError, ClientError, TimeoutError) as error:
            # Without the profile we still know the Slack id; the desk works with it
            # (while Slack is away too: a quick-file is filed, its answer waits).
            problem = error.response.get("error") if isinstance(error, SlackApiError) else error
            log.warning("users.info failed for %s: %s", user_id, problem)
            return Identity(
                slack_user_id=user_id, display_name=user_id, slack_workspace=current_workspace.get()
            )
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        return Identity(
            slack_user_id=user_id,
            slack_workspace=user.get("team_id") or current_workspace.get(),
            email=profile.get("email"),
            display_name=user.get("real_name") or profile.get("real_name") or user.get("name"),
            timezone=user.get("tz"),
            language=user.get("locale"),
        )

    def busy(self, user_id: str) -> str:
        """Said when the desk could not act in time; in the person's language if known."""
        return self.in_known_language(
            user_id,
            lambda: (
                "⚠️ " + _("The desk is very busy right now, so nothing was done. Please try again.")
            ),
        )

    async def filing(self, user_id: str) -> str:
        """The acknowledgement of a quick-file: the confirmation replaces it shortly.
        In the person's stored language when Slack's is not known here yet."""
        await self._languages.ready()
        language, _timezone = self._known_language(user_id)
        return _filing_text_in(language)

    def could_not_file(self, user_id: str, text: str) -> str:
        """Said when a quick-file failed for good: what they typed comes back to them."""
        return self.in_known_language(
            user_id,
            lambda: (
                "⚠️ "
                + _(
                    "Sorry, something went wrong and your request was NOT filed. "
                    "Please try again: /request {text}",
                    text=escape(text),
                )
            ),
        )

    def in_known_language(self, user_id: str | None, render: Callable[[], str]) -> str:
        """Render in the person's language as far as this process knows it already:
        for what is said before any database work, or when the database failed.

        The catalog's language wins, as it does for every answer; else Slack's
        locale as last seen; else the language stored for them (an earlier profile).
        """
        with reader(*self._known_language(user_id)):
            return render()

    def _known_language(self, user_id: str | None) -> tuple[str | None, str]:
        """The person's language and time zone as far as this process knows them."""
        profile = self._profiles.last_known(user_id) if user_id else None
        stored = self._languages.of(user_id) if user_id else None
        language = profile.language if profile else None
        if stored is not None and (stored[1] or not language):
            language = stored[0]
        return language, (profile.timezone if profile else None) or self.default_timezone

    def submit(
        self,
        *,
        delivery_key: str,
        workspace: str | None,
        user_id: str,
        text: str,
        reply_address: str,
    ) -> asyncio.Future[None]:
        """Queue a command for the inbox (see models.inbox); the future is done once
        it is stored (bot.inbox_writer: until its insert is sent, it can be withdrawn)."""
        return self.inbox_writer.submit(
            inbox.Arrival(
                platform=PLATFORM,
                delivery_key=delivery_key,
                workspace=workspace,
                user_id=user_id,
                text=text,
                reply_address=reply_address,
                received_at=self.clock.now(),
            )
        )

    async def attempt_claimed(
        self,
        claimed: Sequence[tuple[inbox.Accepted, Identity, Work[str], bool]],
        answer: Callable[[AsyncSession, inbox.Accepted, str], None],
    ) -> int:
        """Carry out accepted commands as their senders, in one transaction: each is
        taken from the inbox in it, so it is done once, and runs in its own savepoint
        (unless its flag says it needs none: it refuses only before writing), so a
        refusal undoes only its own work. Each one's answer (or refusal) is
        handed to `answer` in that transaction, so it is queued with what it reports.
        Commands another process took first are skipped; how many were done."""
        done = 0
        async with self.sessions.begin() as session:
            for command, identity, work, savepoint in claimed:
                if await inbox.take(session, command, self.clock.now()):
                    said = await attempt_in(
                        session,
                        identity,
                        work,
                        esc=escape,
                        default_timezone=self.default_timezone,
                        savepoint=savepoint,
                    )
                    answer(session, command, said)
                    done += 1
        return done

    async def attempt(
        self,
        client: AsyncWebClient,
        user_id: str,
        work: Callable[[AsyncSession, Person], Awaitable[T]],
    ) -> T | str:
        """Like `act`, but a DeskError comes back as its message for this person,
        and whatever `work` wrote is rolled back."""
        identity = await self.identity(client, user_id)
        return await attempt_as(
            self.sessions, identity, work, esc=escape, default_timezone=self.default_timezone
        )

    async def act(
        self,
        client: AsyncWebClient,
        user_id: str,
        work: Callable[[AsyncSession, Person], Awaitable[T]],
    ) -> T:
        """Run `work` as this person in one transaction, rendering for them."""
        identity = await self.identity(client, user_id)
        async with self.sessions.begin() as session:
            person = await resolve_person(session, identity)
            with reader(person.language, person.timezone or self.default_timezone):
                return await work(session, person)

    async def in_language_of(
        self, client: AsyncWebClient, user_id: str, render: Callable[[], T]
    ) -> T:
        """Render in this person's language, storing nothing (unlike `speak_to`, which
        enrols a newcomer): for answering a payload that was refused."""
        identity = await self.identity(client, user_id)
        async with self.sessions() as session:
            known = await session.scalar(select(Person).where(Person.slack_user_id == user_id))
        language = (known.language if known else None) or identity.language
        timezone = (known.timezone if known else None) or identity.timezone
        with reader(language, timezone or self.default_timezone):
            return render()

    async def speak_to(self, client: AsyncWebClient, user_id: str, render: Callable[[], T]) -> T:
        """Render something (an error, a modal) in this person's language."""
        identity = await self.identity(client, user_id)
        async with self.sessions.begin() as session:
            person = await resolve_person(session, identity)
            language, timezone = person.language, person.timezone
        with reader(language, timezone or self.default_timezone):
            return render()
