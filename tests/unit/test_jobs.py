"""The scheduler wakes the sweep at the next due time, runs exactly one dispatch loop,
and stops without cutting a run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from scheduler.jobs import SWEEP_JOB_ID, Jobs


async def _until(check: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + 5.0
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_after_a_sweep_the_next_one_is_brought_forward_to_the_milestone() -> None:
    due = datetime.now(UTC) + timedelta(seconds=30)
    ran: list[str] = []

    async def sweep() -> None:
        ran.append("sweep")

    async def dispatch() -> None:
        ran.append("dispatch")

    async def next_due() -> datetime | None:
        return due

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
        sweep_job = jobs.scheduler.get_job(SWEEP_JOB_ID)
        # The next sweep is brought forward from the 60 s interval to the milestone.
        assert sweep_job is not None and sweep_job.next_run_time == due
        assert ran.index("sweep") < len(ran) - 1 - ran[::-1].index("dispatch")
        assert sweep_job.coalesce and sweep_job.max_instances == 1
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
