"""Group commit for the inbox: commands that arrive together are stored together.

Every acknowledgement waits for its command to be stored (models.inbox). One
transaction per command would make a burst queue for the database one by one,
each paying for its own BEGIN and COMMIT (and, on SQLite, several round trips to
the driver's thread), so the queue grows faster than it drains. Here the first
arrival starts a write; whatever arrives while it is under way is written by the
next one, in one multi-row insert. A quiet desk writes one command per
transaction as before; a busy one writes many per transaction.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import inbox

log = logging.getLogger(__name__)


class InboxWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._waiting: list[tuple[inbox.Arrival, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def accept(self, arrival: inbox.Arrival) -> None:
        """Return once the command is stored (committed); raise if it could not be.

        Cancelled before its write began (a deadline), the command is not written,
        so what the person is told and what is stored agree.
        """
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="inbox-writer")
        await stored

    async def _write(self) -> None:
        while self._waiting:
            batch = [(a, f) for a, f in self._waiting if not f.done()]
            self._waiting = []
            if not batch:
                continue
            try:
                async with self._engine.begin() as connection:
                    await inbox.accept(connection, [a for a, _ in batch])
            except Exception as error:
                log.warning("could not store %d commands: %s", len(batch), error)
                for _arrival, stored in batch:
                    if not stored.done():
                        stored.set_exception(error)
                continue
            for _arrival, stored in batch:
                if not stored.done():
                    stored.set_result(None)
