"""The in-process scheduler: stateless jobs that scan the database.

APScheduler keeps no state of its own here (memory job store): every job reads
what is due from the database, so any number of processes may run them; row
claims (SKIP LOCKED, leases, unique escalation rows) keep them from doubling up.

The outbox dispatch is not an APScheduler job but one loop (one asyncio task) per
process: it runs every `dispatch_interval_seconds`, or at once when nudged (after
a sweep queued notices, or by anything else that queued some). A nudge during a
run makes the loop run again right after it; nothing starts a second dispatch
beside it, so two deliveries of this process never overlap.

The SLA sweep is a loop of its own too: after each run it asks for the next
milestone and sleeps until then (at most `sweep_interval_seconds`), or sweeps again
at once if one is already due. It used to be an APScheduler interval job that
brought its own next run forward; a job cannot do that reliably for itself (the
run that asks is still running: with `max_instances=1` a wake-up for "now" was
dropped as a skipped run), so it swept again in place, at most 10 rounds, and when
milestones kept coming due faster than 10 rounds took, planned nothing and waited
for the next interval tick: lapses up to 15 s late (bench/README.md, SLA sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

DIGEST_JOB_ID = "weekly-digest"
# After a run that took nothing while something is due (another process holds those
# rows, SKIP LOCKED): wait this long before looking again, not spin. (A failed run
# waits the interval.)
SWEEP_RETRY_SECONDS = 1.0


class Jobs:
    """The scheduler plus a clean stop: no new runs, and running ones finish.

    The SLA sweep runs at the earliest milestone the database knows of (read after
    each run, i.e. after its commits) and at least every `sweep_interval_seconds`,
    so a lapse is acted on as it comes, not up to a whole interval late.
    """

    def __init__(
        self,
        dispatch: Callable[[], Awaitable[object]],
        *,
        dispatch_interval_seconds: float,
        sweep: Callable[[], Awaitable[object]] | None = None,
        next_due: Callable[[], Awaitable[datetime | None]] | None = None,
        sweep_interval_seconds: float = 15.0,
        sweep_retry_seconds: float = SWEEP_RETRY_SECONDS,
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
        self._sweep_interval = sweep_interval_seconds
        self._sweep_retry = min(sweep_retry_seconds, sweep_interval_seconds)
        self._sweep_wanted = asyncio.Event()
        self._sweep_loop: asyncio.Task[None] | None = None
        self._stopping = False
        self.dispatch_runs = 0  # completed dispatch runs, for tests and logs
        self.scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
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

    async def _tracked(self, name: str, run: Callable[[], Awaitable[object]]) -> _Outcome:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            return _Outcome(True, await run())
        except Exception:
            # A failing run must not kill the job; the next tick tries again.
            log.exception("%s failed", name)
            return _Outcome(False, None)
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

    async def _sweeping(self) -> None:
        """The process's one sweep loop: a run at start, then one at each next
        milestone (or interval), never two at once."""
        assert self._sweep is not None
        while not self._stopping:
            self._sweep_wanted.clear()
            swept = await self._tracked("SLA sweep", self._sweep)
            # What the sweep queued goes out now, by the one dispatch loop.
            self.nudge_dispatch()
            if self._stopping:
                break
            wait = await self._until_next_sweep(swept)
            if wait <= 0:
                await asyncio.sleep(0)  # let the rest of the process run between rounds
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_wanted.wait(), wait)

    async def _until_next_sweep(self, swept: _Outcome) -> float:
        """Seconds until the next run: 0 while milestones are due and the last run
        acted on some; until the next milestone, at most an interval, otherwise."""
        if not swept.ok or self._next_due is None:
            return self._sweep_interval
        found = await self._tracked("next due", self._next_due)
        due = found.result
        if not found.ok or not isinstance(due, datetime):
            return self._sweep_interval
        wait = (due - self._now()).total_seconds()
        if wait <= 0 and not _acted(swept.result):
            # Due, but this run took nothing: the rows are another process's now.
            return self._sweep_retry
        return min(max(wait, 0.0), self._sweep_interval)

    def start(self) -> None:
        self.scheduler.start()
        loop = asyncio.get_running_loop()
        self._dispatch_loop = loop.create_task(self._dispatching(), name="outbox dispatch loop")
        if self._sweep is not None:
            self._sweep_loop = loop.create_task(self._sweeping(), name="SLA sweep loop")

    async def stop(self) -> None:
        # Pause first (no new runs), let running ones finish, and only then shut
        # down: APScheduler's executor cancels whatever still runs at shutdown.
        self._stopping = True
        self._dispatch_wanted.set()  # wake the loops if they wait, so they can end
        self._sweep_wanted.set()
        self.scheduler.pause()
        loops = [loop for loop in (self._dispatch_loop, self._sweep_loop) if loop is not None]
        waiting = [*self._running, *loops]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        self.scheduler.shutdown(wait=False)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    result: object


def _acted(report: object) -> bool:
    """Whether a sweep run took any request (a report without a count: assume so)."""
    checked = getattr(report, "checked", None)
    return not isinstance(checked, int) or checked > 0
