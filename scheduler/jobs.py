"""The in-process scheduler: stateless jobs that scan the database.

APScheduler keeps no state of its own here (memory job store): every job reads
what is due from the database, so any number of processes may run them; row
claims (SKIP LOCKED, leases, unique escalation rows) keep them from doubling up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

DISPATCH_JOB_ID = "outbox-dispatch"
SWEEP_JOB_ID = "sla-sweep"
DIGEST_JOB_ID = "weekly-digest"


class Jobs:
    """The scheduler plus a clean stop: no new runs, and running ones finish.

    The SLA sweep runs every `sweep_interval_seconds`, and after each run its next
    run is brought forward to the earliest milestone the database knows of, so a
    lapse is acted on within about a second, not up to a whole interval late.
    """

    def __init__(
        self,
        dispatch: Callable[[], Awaitable[object]],
        *,
        dispatch_interval_seconds: float,
        sweep: Callable[[], Awaitable[object]] | None = None,
        next_due: Callable[[], Awaitable[datetime | None]] | None = None,
        sweep_interval_seconds: float = 15.0,
        digest: Callable[[], Awaitable[object]] | None = None,
        digest_interval_seconds: float = 300.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._dispatch = dispatch
        self._sweep = sweep
        self._next_due = next_due
        self._now = now
        self._running: set[asyncio.Task[object]] = set()
        self._spawned: set[asyncio.Task[None]] = set()
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
        if sweep is not None:
            self.scheduler.add_job(
                self._sweep_job,
                "interval",
                seconds=sweep_interval_seconds,
                id=SWEEP_JOB_ID,
                replace_existing=True,
                next_run_time=now(),
            )

        if digest is not None:
            # Digests are due from their weekly slot (in each team's zone) until the
            # week ends, and sent once (an idempotency key): a coarse tick is enough,
            # and a process that was down at the slot still posts them.
            self._digest = digest
            self.scheduler.add_job(
                self._digest_job,
                "interval",
                seconds=digest_interval_seconds,
                id=DIGEST_JOB_ID,
                replace_existing=True,
                next_run_time=now(),
            )

    async def _digest_job(self) -> None:
        await self._tracked("weekly digest", self._digest)

    async def _tracked(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await run()
        except Exception:
            # A failing run must not kill the job; the next tick tries again.
            log.exception("%s failed", name)
        finally:
            self._running.discard(task)

    async def _dispatch_job(self) -> None:
        await self._tracked("outbox dispatch", self._dispatch)

    async def _sweep_job(self) -> None:
        assert self._sweep is not None
        due: datetime | None = None
        # Sweep until nothing is due right now (bounded): a milestone that came due
        # while we swept is acted on at once, not left for a later wake-up.
        for _round in range(10):
            await self._tracked("SLA sweep", self._sweep)
            due = await self._next_due() if self._next_due is not None else None
            if due is None or due > self._now():
                break
        # What the sweep queued goes out now, beside the sweep, not inside its slot.
        task = asyncio.create_task(self._tracked("outbox dispatch", self._dispatch))
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        if due is not None and due > self._now():
            self._wake_at(due)

    def _wake_at(self, due: datetime) -> None:
        """Bring the sweep's next run forward to `due` (never push it back)."""
        if not self.scheduler.running:
            return
        job = self.scheduler.get_job(SWEEP_JOB_ID)
        if job is not None and (job.next_run_time is None or due < job.next_run_time):
            self.scheduler.modify_job(SWEEP_JOB_ID, next_run_time=due)

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self) -> None:
        # Pause first (no new runs), let running ones finish, and only then shut
        # down: APScheduler's executor cancels whatever still runs at shutdown.
        self.scheduler.pause()
        if self._running or self._spawned:
            await asyncio.gather(*self._running, *self._spawned, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
