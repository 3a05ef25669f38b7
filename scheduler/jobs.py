"""The in-process scheduler: stateless jobs that scan the database.

APScheduler keeps no state of its own here (memory job store): every job reads
what is due from the database, so any number of processes may run it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

DISPATCH_JOB_ID = "outbox-dispatch"


def build_scheduler(
    dispatch: Callable[[], Awaitable[object]],
    *,
    dispatch_interval_seconds: float,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        timezone="UTC",
    )

    async def dispatch_job() -> None:
        try:
            await dispatch()
        except Exception:
            # A failing run must not kill the job; the next tick tries again.
            log.exception("outbox dispatch failed")

    scheduler.add_job(
        dispatch_job,
        "interval",
        seconds=dispatch_interval_seconds,
        id=DISPATCH_JOB_ID,
        replace_existing=True,
    )
    return scheduler
