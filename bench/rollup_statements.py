"""How many SQL statements a change sends, and how many of them keep the insight rollups.

    .venv/bin/python -m bench.rollup_statements              # SQLite and PostgreSQL
    .venv/bin/python -m bench.rollup_statements --sqlite     # SQLite only (no server)

Counts what the engine sends (a `before_cursor_execute` listener: BEGIN, SAVEPOINT
and RELEASE included, the driver's COMMIT not) for: a filing as a channel runs it
(`bot.acting.attempt_as`: one transaction, the command in a savepoint), ten filings
in one transaction each in its savepoint (the command pump's batch), a claim, a
resolution, a rating, and one SLA sweep of 100 due requests (each escalates). A
statement "keeps the rollups" when it reads or writes an `insight_*` table, reads
the requests' figures for them, or takes the rollups' lock. On the test desk
(tests/integration/conftest.py) with a manual clock, after a warm-up; every
figure is the mean per change over 20 changes (the sweep: one run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import build_engine, build_sessions, run_migrations
from bot.acting import attempt_as, attempt_in
from handlers import survey, work
from handlers.catalog_apply import apply_catalog
from handlers.filing import file_request
from handlers.people import Identity
from handlers.sweep import sweep_due
from models.catalog import parse_catalog
from models.clock import ManualClock
from models.directory import Person
from tests import postgres_server
from tests.integration.conftest import CATALOG, MONDAY_10

RUNS = 20
SWEPT = 100
SAM, ALICE = Identity(email="sam@example.com"), Identity(email="alice@example.com")


@dataclass
class Counter:
    on: bool = False
    sent: list[str] = field(default_factory=list)

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if self.on:
            self.sent.append(" ".join(sql.split()))

    async def count(self, runs: int, change: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
        """(statements, of which keep the rollups) per change, over `runs` changes."""
        self.sent, self.on = [], True
        try:
            for _ in range(runs):
                await change()
        finally:
            self.on = False
        rollups = [s for s in self.sent if keeps_rollups(s)]
        return len(self.sent) / runs, len(rollups) / runs


def keeps_rollups(sql: str) -> bool:
    return "insight_" in sql or sql.startswith("SELECT 0 AS source") or "advisory" in sql


async def measure(url: str) -> None:
    engine = build_engine(url)
    counter = Counter()
    counter.attach(engine)
    sessions = build_sessions(engine)
    clock = ManualClock(MONDAY_10)
    try:
        async with sessions.begin() as session:
            await apply_catalog(session, parse_catalog(CATALOG, "bench.yaml"))
        keys: list[str] = []

        async def file(session: AsyncSession, person: Person) -> str:
            filed = await file_request(
                session, clock, person, team="it", title="Screen", category="Hardware"
            )
            keys.append(filed.request.key)
            return filed.request.key

        def as_channel(identity: Identity, job: Any) -> Callable[[], Awaitable[Any]]:
            return lambda: attempt_as(sessions, identity, job, esc=str, default_timezone="UTC")

        async def pump_batch() -> None:
            async with sessions.begin() as session:
                for _ in range(10):
                    await attempt_in(session, SAM, file, esc=str, default_timezone="UTC")

        def next_key(action: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            pending = list(keys)

            async def job(session: AsyncSession, person: Person) -> Any:
                return await action(session, clock, person, pending.pop(0), *args)

            return job

        for _ in range(3):  # warm-up: caches, the people's rows
            await as_channel(SAM, file)()
        keys.clear()
        rows = [("a filing (attempt_as)", *await counter.count(RUNS, as_channel(SAM, file)))]
        total, rollups = await counter.count(2, pump_batch)
        rows.append(("10 filings in one transaction (per transaction)", total, rollups))
        clock.advance(timedelta(minutes=10))
        rows.append(
            ("a claim", *await counter.count(RUNS, as_channel(ALICE, next_key(work.claim))))
        )
        rows.append(
            (
                "a resolution",
                *await counter.count(RUNS, as_channel(ALICE, next_key(work.resolve, "Fixed"))),
            )
        )
        rows.append(
            ("a rating", *await counter.count(RUNS, as_channel(SAM, next_key(survey.rate, 5))))
        )
        keys.clear()
        for _ in range(SWEPT):
            await as_channel(SAM, file)()
        clock.advance(timedelta(days=2))  # every standard lapsed: warning, rung 1, rung 2
        total, rollups = await counter.count(1, lambda: sweep_due(sessions, clock))
        rows.append((f"one sweep of {SWEPT} due requests (per sweep)", total, rollups))
        for label, total, rollups in rows:
            print(f"  {label:<50} {total:7.1f} statements, {rollups:6.1f} for the rollups")
    finally:
        await engine.dispose()


async def main(sqlite_only: bool) -> None:
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(run_migrations, url)
        print("SQLite:")
        await measure(url)
    if sqlite_only:
        return
    server = postgres_server.start()
    try:
        url = f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/postgres"
        await asyncio.to_thread(run_migrations, url)
        print("PostgreSQL:")
        await measure(url)
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    asyncio.run(main(parser.parse_args().sqlite))
