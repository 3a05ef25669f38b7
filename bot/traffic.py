"""Interactive traffic first: background work in a serving process waits for a lull.

Slack gives an acknowledgement 3 seconds, and the person behind it waits for
every millisecond; a team card posted or a queued quick-file filed 50 ms later
makes no difference to anyone. They share one event loop, so the background
work (the command pump, the outbox dispatch) asks `lull()` before each item:
it goes on when no request is being answered (over HTTP, or an envelope over
Slack's Socket Mode connection), or after `patience` at the latest, so it is
never starved for long under sustained load.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web

# The longest background work waits for a lull before it goes on anyway.
PATIENCE_SECONDS = 5.0


class Traffic:
    def __init__(self, patience: float = PATIENCE_SECONDS) -> None:
        self._patience = patience
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._quiet_since = time.monotonic()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """While inside, one interactive request is being answered (an HTTP request,
        or a Socket Mode envelope: bot.slack.socket_mode)."""
        self._in_flight += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._quiet.set()
                self._quiet_since = time.monotonic()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        with self.answering():
            return await handler(request)

    def quiet_for(self) -> float:
        """Seconds since the last request was answered; 0 while one is being answered."""
        return 0.0 if self._in_flight else time.monotonic() - self._quiet_since

    async def lull(self) -> bool:
        """Wait for a lull; True if there was one, False if patience ran out."""
        try:
            await asyncio.wait_for(self._quiet.wait(), self._patience)
        except TimeoutError:
            return False
        return True
