"""The in-process scheduler: stateless jobs that scan the database.

APScheduler keeps no state of its own here (memory job store): every job reads
what is due from the database, so any number of processes may run them; row
claims (SKIP LOCKED, leases, unique escalation rows) keep them from doubling up.

The outbox dispatch is not an APScheduler job but one loop (one asyncio task) per
process: it runs every `dispatch_interval_seconds`, or at once when nudged (after
a sweep queued notices, or by anything else that queued some). A nudge during a
run makes the loop run again right after it; nothing starts a second dispatch
beside it, so two deliveries of this process never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

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
        self._dispatch_interval = dispatch_interval_seconds
        self._dispatch_wanted = asyncio.Event()
        self._dispatch_loop: asyncio.Task[None] | None = None
        self._stopping = False
        self.dispatch_runs = 0  # completed dispatch runs, for tests and logs
        self.scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
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
        self.nudge_dispatch()

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

    def nudge_dispatch(self) -> None:
        """Run the dispatch loop now (or right after its current run)."""
        self._dispatch_wanted.set()

    async def _dispatching(self) -> None:
        """The process's one dispatch loop: a run at start, then one per interval
        or nudge, never two at once."""
        while not self._stopping:
            self._dispatch_wanted.clear()
            await self._tracked("outbox dispatch", self._dispatch)
            self.dispatch_runs += 1
            if self._stopping:
                break
            # A nudge that came during the run is still set: run again at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dispatch_wanted.wait(), self._dispatch_interval)

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
        # What the sweep queued goes out now, by the one dispatch loop.
        self.nudge_dispatch()
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
        self._dispatch_loop = asyncio.get_running_loop().create_task(
            self._dispatching(), name="outbox dispatch loop"
        )

    async def stop(self) -> None:
        # Pause first (no new runs), let running ones finish, and only then shut
        # down: APScheduler's executor cancels whatever still runs at shutdown.
        self._stopping = True
        self._dispatch_wanted.set()  # wake the loop if it waits, so it can end
        self.scheduler.pause()
        waiting = [*self._running, *([self._dispatch_loop] if self._dispatch_loop else [])]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
