"""The in-process scheduler: stateless jobs that scan the database.

APScheduler keeps no state of its own here (memory job store): every job reads
what is due from the database, so any number of processes may run it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

DISPATCH_JOB_ID = "outbox-dispatch"


class Jobs:
    """The scheduler plus a clean stop: no new runs, and running ones finish.

    AsyncIOScheduler.shutdown(wait=True) does not wait for coroutine jobs; without
    the drain, a run cut off mid-transaction would leave leases to expire and log
    a cancellation on every deploy.
    """

    def __init__(
        self,
        dispatch: Callable[[], Awaitable[object]],
        *,
        dispatch_interval_seconds: float,
    ) -> None:
        self._dispatch = dispatch
        self._running: set[asyncio.Task[object]] = set()
        self.scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
        )
        self.scheduler.add_job(
            self._dispatch_job,
            "interval",
            seconds=dispatch_interval_seconds,
            id=DISPATCH_JOB_ID,
            replace_existing=True,
        )

    async def _dispatch_job(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await self._dispatch()
        except Exception:
            # A failing run must not kill the job; the next tick tries again.
            log.exception("outbox dispatch failed")
        finally:
            self._running.discard(task)

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self) -> None:
        # Pause first (no new runs), let running ones finish, and only then shut
        # down: APScheduler's executor cancels whatever still runs at shutdown.
        self.scheduler.pause()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
