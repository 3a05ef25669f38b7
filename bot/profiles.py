"""What a chat platform told us about a person, kept for a while and then asked again.

Asking Slack (users.info) or Teams (the roster) on every message would cost a
round trip each time and run into rate limits; keeping the answer for good would
ignore a person who moves to another time zone or switches language until the
process restarts. So an answer is kept for `PROFILE_TTL`, measured on the desk's
clock (which tests move), and asked again after that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.clock import Clock
from models.directory import Person

log = logging.getLogger(__name__)

# How long a profile change can go unnoticed, against one users.info call per active
# person per period (Slack allows 100+ a minute: 1,000 people in ten minutes).
PROFILE_TTL = timedelta(minutes=10)

V = TypeVar("V")


@dataclass
class Expiring(Generic[V]):
    """Values by key that count as known for `ttl` after they were stored."""

    clock: Clock
    ttl: timedelta = PROFILE_TTL
    _entries: dict[str, tuple[datetime, V]] = field(default_factory=dict)

    def get(self, key: str) -> V | None:
        """The value while it is fresh; None once it is older than `ttl`."""
        found = self._entries.get(key)
        if found is None or self.clock.now() - found[0] >= self.ttl:
            return None
        return found[1]

    def last_known(self, key: str) -> V | None:
        """The value however old: better than nothing where nothing may be asked
        (what is said before any database or API work)."""
        found = self._entries.get(key)
        return found[1] if found else None

    def put(self, key: str, value: V) -> None:
        self._entries[key] = (self.clock.now(), value)


class StoredLanguages:
    """The language stored for each Slack user (catalog or profile), for what is said
    before any per-person work: the quick-file acknowledgement must go out within
    Slack's 3 seconds, so it reads this map instead of the database.

    One query loads every person's language; after `ttl` the map is reloaded in
    the background while the old one still answers, so only the very first
    acknowledgement of a process waits for it (one indexed read).
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, ttl: timedelta = PROFILE_TTL
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl
        # Slack user id -> (language, whether the catalog set it)
        self._known: dict[str, tuple[str, bool]] = {}
        self._loaded_at: datetime | None = None
        self._loading: asyncio.Task[None] | None = None

    def of(self, slack_user_id: str) -> tuple[str, bool] | None:
        """(language, set by the catalog) as last loaded; None if none is stored."""
        return self._known.get(slack_user_id)

    async def ready(self) -> None:
        """Loaded at least once; a stale map starts reloading and answers meanwhile."""
        if self._loaded_at is not None:
            if self._clock.now() - self._loaded_at >= self._ttl:
                self._reload()
            return
        # Shielded: a caller that gives up (its deadline) does not cancel the load
        # that the next caller will be waiting on.
        await asyncio.shield(self._reload())

    def _reload(self) -> asyncio.Task[None]:
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._load(), name="stored-languages")
        return self._loading

    async def _load(self) -> None:
        try:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(Person.slack_user_id, Person.language, Person.language_from_catalog)
                    .where(Person.slack_user_id.is_not(None))
                    .where(Person.language.is_not(None))
                )
                known = {str(user): (str(lang), bool(pinned)) for user, lang, pinned in rows}
        except (SQLAlchemyError, OSError) as error:  # a nicety: without it, English
            log.warning("could not load people's languages: %s", error)
            return
        self._known = known
        self._loaded_at = self._clock.now()
