"""An aiohttp server on its own event loop in a background thread.

botbuilder and MSAL fetch keys and tokens with the *synchronous* `requests`, which
blocks the event loop it is called from; a fake on the test's own loop would then
never answer. So the token fakes and the fake Bot Connector
(tests/fakes/bot_connector.py) serve from a thread of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

Starter = Callable[[], Awaitable[Callable[[], Awaitable[None]]]]


class ServerThread:
    """Runs `starter` on a fresh loop in a thread: it starts whatever it serves and
    returns the coroutine function that stops it. `port` is known once started."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def start(self, starter: Starter) -> None:
        self._thread = threading.Thread(
            target=self._serve, args=(starter,), name=self._name, daemon=True
        )
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 10.0)
        if self._error is not None or not self._ready.is_set():
            error = self._error or TimeoutError(f"{self._name} did not start")
            await self.stop()
            raise error

    async def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stopping.set)
        await asyncio.to_thread(thread.join, 10.0)
        self._thread = self._loop = self._stopping = None

    def _serve(self, starter: Starter) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run(starter))
        except BaseException as error:  # reported to start()
            self._error = error
            self._ready.set()
        finally:
            loop.close()

    async def _run(self, starter: Starter) -> None:
        stop = await starter()
        try:
            self._stopping = asyncio.Event()
            self._ready.set()
            await self._stopping.wait()
        finally:
            await stop()


async def serve_app(
    app: web.Application, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Start `app` on a free port of `host`; the port, and how to stop it."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    return runner.addresses[0][1], runner.cleanup
