"""The scheduler wakes the sweep at the next due time, runs exactly one dispatch loop,
and stops without cutting a run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scheduler.jobs import Jobs


async def _until(check: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + 5.0
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_after_a_sweep_the_next_one_comes_at_the_milestone_not_the_interval() -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.2)
    ran: list[str] = []

    async def sweep() -> None:
        ran.append("sweep")

    async def dispatch() -> None:
        ran.append("dispatch")

    async def next_due() -> datetime | None:
        return due if ran.count("sweep") < 2 else None

    jobs = Jobs(
        dispatch,
        dispatch_interval_seconds=60,
        sweep=sweep,
        next_due=next_due,
        sweep_interval_seconds=60,
    )
    jobs.start()
    try:
        # The loop dispatches as it starts, the sweep runs, and what the sweep
        # queued is dispatched right after it, not at the next 60 s tick.
        await _until(lambda: ran.count("dispatch") >= 2)
        assert ran.index("sweep") < len(ran) - 1 - ran[::-1].index("dispatch")
        # The second sweep comes at the milestone, 0.2 s on, not 60 s later.
        await _until(lambda: ran.count("sweep") == 2)
        assert datetime.now(UTC) >= due
        await asyncio.sleep(0.1)
        assert ran.count("sweep") == 2  # nothing due any more: it waits the interval
    finally:
        await jobs.stop()


@dataclass
class _Report:
    checked: int


class _AlwaysDue:
    """A desk where something is always due: each sweep checks `checked` rows (0:
    another replica holds them, SKIP LOCKED) and `next_due` says `overdue` ago."""

    def __init__(self, checked: int, overdue: timedelta) -> None:
        self.checked = checked
        self.overdue = overdue
        self.sweeps = 0

    async def sweep(self) -> _Report:
        self.sweeps += 1
        return _Report(checked=self.checked)

    async def next_due(self) -> datetime | None:
        return datetime.now(UTC) - self.overdue

    def jobs(self, **options: float) -> Jobs:
        async def dispatch() -> None:
            pass

        return Jobs(
            dispatch,
            dispatch_interval_seconds=60,
            sweep=self.sweep,
            next_due=self.next_due,
            sweep_interval_seconds=60,
            **options,
        )


async def test_while_milestones_keep_coming_due_it_keeps_sweeping() -> None:
    """Milestones came due faster than ten sweeps took; the job then planned no
    wake-up (the next one was already past) and nothing swept until the interval
    tick: lapses 10-15 s late in the bench. Now it sweeps again for as long as
    something is due and the last run acted on something."""
    desk = _AlwaysDue(checked=1, overdue=timedelta(milliseconds=20))
    jobs = desk.jobs()
    jobs.start()
    try:
        await _until(lambda: desk.sweeps >= 30)
    finally:
        await jobs.stop()


async def test_due_rows_another_process_holds_are_retried_after_a_pause_not_in_a_spin() -> None:
    desk = _AlwaysDue(checked=0, overdue=timedelta(seconds=1))
    jobs = desk.jobs(sweep_retry_seconds=0.2)
    jobs.start()
    try:
        await asyncio.sleep(0.1)
        assert desk.sweeps == 1
        await _until(lambda: desk.sweeps == 2)
    finally:
        await jobs.stop()


async def test_sweeps_and_nudges_never_run_a_second_dispatch_beside_the_loop() -> None:
    """The sweep used to start a dispatch of its own beside the interval job, with
    the same lease owner: two deliveries of one process at once. Now a sweep only
    nudges the one loop; a nudge during a run makes one more run after it."""
    running = 0
    most = 0
    runs = 0
    sweeps = 0

    async def slow_dispatch() -> None:
        nonlocal running, most, runs
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        runs += 1

    async def sweep() -> None:
        nonlocal sweeps
        sweeps += 1

    async def nothing_due() -> datetime | None:
        return None

    jobs = Jobs(
        slow_dispatch,
        dispatch_interval_seconds=0.02,
        sweep=sweep,
        next_due=nothing_due,
        sweep_interval_seconds=0.01,
    )
    jobs.start()
    try:
        for _ in range(40):
            jobs.nudge_dispatch()  # anything that queued notices, all the time
            await asyncio.sleep(0.005)
        await _until(lambda: sweeps >= 5 and runs >= 5)
    finally:
        await jobs.stop()
    assert most == 1, f"{most} dispatch runs overlapped"
    assert running == 0  # the run in progress finished before stop returned


async def test_a_nudge_during_a_run_is_not_lost() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs = 0

    async def dispatch() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            started.set()
            await release.wait()

    # A long interval: only the nudge can bring the second run.
    jobs = Jobs(dispatch, dispatch_interval_seconds=3600)
    jobs.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=5)
        jobs.nudge_dispatch()  # notices queued while the first run delivers
        release.set()
        await _until(lambda: runs == 2)
    finally:
        await jobs.stop()
    assert runs == 2


async def test_stop_lets_a_running_job_finish() -> None:
    finished = asyncio.Event()
    started = asyncio.Event()

    async def slow_dispatch() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.set()

    jobs = Jobs(slow_dispatch, dispatch_interval_seconds=0.05)
    jobs.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await jobs.stop()
    assert finished.is_set()
