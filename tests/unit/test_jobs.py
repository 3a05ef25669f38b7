"""The scheduler wakes the sweep at the next due time and stops without cutting a run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from scheduler.jobs import DISPATCH_JOB_ID, SWEEP_JOB_ID, Jobs


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
        for _ in range(200):  # the sweep runs as the scheduler starts
            if "dispatch" in ran:
                break
            await asyncio.sleep(0.01)
        sweep_job = jobs.scheduler.get_job(SWEEP_JOB_ID)
        # The next sweep is brought forward from the 60 s interval to the milestone.
        assert sweep_job is not None and sweep_job.next_run_time == due
        # What the sweep queued is dispatched right after it, not at the next tick.
        assert ran[:2] == ["sweep", "dispatch"]
        for job_id in (DISPATCH_JOB_ID, SWEEP_JOB_ID):
            job = jobs.scheduler.get_job(job_id)
            assert job is not None and job.coalesce and job.max_instances == 1
    finally:
        await jobs.stop()


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
