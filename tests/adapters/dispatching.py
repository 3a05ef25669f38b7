"""The scheduler's one dispatch loop as the adapter worlds run it (Slack, Teams)."""

from __future__ import annotations

import asyncio
from typing import Any

from app import Runtime


class NudgedDispatch:
    """The scheduler's one dispatch loop as a test world runs it: a run whenever the
    desk nudges it (`Runtime.wake_dispatch`: the Slack command pump, a listener or
    the Teams bot, once answers are queued) or a test asks (`run`), one run at a
    time, as in `serve`; no timer, so what waits for a retry waits for the test.

    `held` keeps nudges from starting runs: a test that wants to see what is queued,
    or to fail what goes out, before it goes out holds the loop and runs it itself.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._one_at_a_time = asyncio.Lock()
        self._runs: set[asyncio.Task[Any]] = set()
        self.held = False

    def nudge(self) -> None:
        if self.held:
            return
        task = asyncio.get_running_loop().create_task(self.run())
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def run(self) -> Any:
        async with self._one_at_a_time:
            return await self._runtime.dispatch()

    async def settled(self) -> None:
        """Wait until the runs nudged so far (and any they nudged) have ended."""
        while self._runs:
            await asyncio.gather(*list(self._runs), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._runs):
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
