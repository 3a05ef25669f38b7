"""Group commit for the inbox: commands that arrive together are stored together.

Every acknowledgement waits for its command to be stored (models.inbox). One
transaction per command would make a burst queue for the database one by one,
each paying for its own BEGIN and COMMIT (and, on SQLite, several round trips to
the driver's thread), so the queue grows faster than it drains. Here the first
arrival starts a write; whatever arrives while it is under way is written by the
next one, in one multi-row insert. A quiet desk writes one command per
transaction as before; a busy one writes many per transaction.

A command can be withdrawn (its sender was told nothing was done) only until its
insert is sent: once it is on its way to the database, only the outcome of that
write says whether it was stored, and the sender is told accordingly.
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
        # The commands whose insert is on its way: no longer withdrawable.
        self._sent: set[asyncio.Future[None]] = set()

    def submit(self, arrival: inbox.Arrival) -> asyncio.Future[None]:
        """Queue the command for storing; the future is done once it is stored
        (committed), or failed if it could not be."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="inbox-writer")
        return stored

    def withdraw(self, stored: asyncio.Future[None]) -> bool:
        """Take back a submitted command whose insert has not been sent: True when
        it will not be stored, False when it is being (or has been) written, and
        its future says how that ends."""
        if stored in self._sent or stored.done():
            return False
        stored.cancel()
        return True

    async def _write(self) -> None:
        while self._waiting:
            batch = [(a, f) for a, f in self._waiting if not f.done()]
            self._waiting = []
            if not batch:
                continue
            try:
                async with self._engine.begin() as connection:
                    # Withdrawn while the connection (or SQLite's write lock) was
                    # awaited: not written. From the insert on, no longer withdrawable.
                    batch = [(a, f) for a, f in batch if not f.done()]
                    self._sent = {f for _, f in batch}
                    if batch:
                        await inbox.accept(connection, [a for a, _ in batch])
            except Exception as error:
                log.warning("could not store %d commands: %s", len(batch), error)
                for _arrival, stored in batch:
                    if not stored.done():
                        stored.set_exception(error)
                continue
            finally:
                self._sent = set()
            for _arrival, stored in batch:
                if not stored.done():
                    stored.set_result(None)
