"""One run of a fault scenario: a desk on a fresh database, N real replicas, the fake
Slack in this process, a stream of signed quick-files, the scenario's faults, then
a wait until the desk has settled, and the figures.

Used by the pytest subset (tests/faults/test_faults.py) and by `python -m
bench.faults`. Bounded everywhere: the stream has a fixed length, every wait a
limit; what is still missing at the limit is counted as lost, not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.cli import Inhouse
from tests.fakes.slack_api import FakeSlack
from tests.faults.count import Figures, Kill, count
from tests.faults.desk import (
    Database,
    catalog,
    marker_of,
    new_postgres_database,
    populate,
)
from tests.faults.load import Stream
from tests.faults.processes import Replica, apply_catalog
from tests.postgres_server import PostgresServer

REPLICA_NAMES = "abcdefgh"
# After the desk looks settled (nothing queued, every rung due has fired), how
# long to wait for answers still on their way before calling them lost.
ANSWER_GRACE = 10.0


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    databases: tuple[str, ...]
    faults: Callable[[Run], Awaitable[None]]
    seconds: float  # the stream's length (full run)
    quick_seconds: float  # with --quick and in pytest
    replicas: int = 1  # `inhouse serve` processes (the load goes to these)
    workers: int = 0  # `inhouse worker` processes beside them (scheduler only)
    rate: float = 10.0
    settle_limit: float = 150.0  # seconds to wait for the desk to settle after the stream
    bench_only: bool = False  # too long for the quick bench or pytest


@dataclass
class Run:
    scenario: Scenario
    database: str  # "sqlite" | "postgresql"
    workdir: Path
    quick: bool
    number: int = 1
    pg: PostgresServer | None = None
    fake: FakeSlack = field(default_factory=FakeSlack)
    replicas: list[Replica] = field(default_factory=list)
    figures: Figures = field(init=False)
    fault_end: datetime | None = None
    _db: Database | None = None
    started: float = 0.0  # monotonic, when the stream began
    _mono0: float = field(default_factory=time.monotonic)
    _wall0: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.figures = Figures(self.scenario.name, self.database, self.number)

    @property
    def db(self) -> Database:
        assert self._db is not None, "the run has not begun"
        return self._db

    @property
    def seconds(self) -> float:
        return self.scenario.quick_seconds if self.quick else self.scenario.seconds

    def wall_of(self, monotonic: float) -> datetime:
        return self._wall0 + timedelta(seconds=monotonic - self._mono0)

    def note(self, line: str) -> None:
        self.figures.notes.append(f"t+{time.monotonic() - self.started:5.1f}s {line}")

    async def at(self, offset: float) -> None:
        """Sleep until `offset` seconds after the stream began."""
        await asyncio.sleep(max(0.0, self.started + offset - time.monotonic()))

    # -- the faults a scenario uses

    async def posting(self, replica: Replica, within: float = 5.0) -> bool:
        """Wait (at most `within` seconds) until `replica` has a notice in flight (on
        its way to Slack, not yet recorded), so a kill catches the case a crash
        must not post twice; False if it had none in time."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.db.tolerant():
                if self.db.leased_by(replica.pid, in_flight=True):
                    return True
            await asyncio.sleep(0.02)
        return False

    async def kill(self, replica: Replica) -> Kill:
        await replica.kill()
        kill = Kill(
            replica.name,
            datetime.now(UTC),
            self.db.leased_by(replica.pid),
            in_flight=self.db.leased_by(replica.pid, in_flight=True),
        )
        self.figures.kills.append(kill)
        self.note(
            f"kill -9 {replica.name} (pid {replica.pid}): {len(kill.leased)} leased, "
            f"{len(kill.in_flight)} of them in flight"
        )
        return kill

    async def restart(self, replica: Replica) -> None:
        await replica.start()
        self.note(f"{replica.name} restarted")

    def fault_over(self) -> None:
        self.fault_end = datetime.now(UTC)

    # -- the run

    async def go(self) -> Figures:
        began = time.monotonic()
        await self.fake.start()
        try:
            populate(self.fake)
            url = self._database()
            machine = Inhouse(self.workdir, extra_env={"DATABASE_URL": url})
            apply_catalog(machine, catalog())
            self._db = Database(url)
            self.replicas = [
                Replica(f"{kind}-{REPLICA_NAMES[i]}", machine, self.fake.url, self.fake.token, kind)
                for kind, how_many in (
                    ("serve", self.scenario.replicas),
                    ("worker", self.scenario.workers),
                )
                for i in range(how_many)
            ]
            await asyncio.gather(*(replica.start() for replica in self.replicas))
            stream = Stream(self.fake, self._targets, tag=f"{self.scenario.name}-{self.number}")
            self.started = time.monotonic()
            load = asyncio.create_task(stream.run(self.scenario.rate, self.seconds))
            faults = asyncio.create_task(self.scenario.faults(self))
            try:
                await asyncio.gather(load, faults)
            finally:
                for task in (load, faults):
                    task.cancel()
            await self._settle(stream)
            self.figures = count(
                self.figures,
                self.fake,
                self.db,
                stream.sent,
                fault_end=self.fault_end,
                wall_of=self.wall_of,
            )
            self.figures.duration = time.monotonic() - began
            return self.figures
        finally:
            await asyncio.gather(*(replica.stop_quietly() for replica in self.replicas))
            if self._db is not None:
                self._db.dispose()
            await self.fake.stop()

    def _database(self) -> str:
        if self.database == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / 'desk.db'}"
        assert self.pg is not None, "a PostgreSQL run needs a server"
        return new_postgres_database(self.pg.host, self.pg.port, self.pg.user)

    def _targets(self) -> list[tuple[str, str]]:
        # Workers serve no HTTP: the load goes to the serve replicas only.
        live = [(r.name, r.url) for r in self.replicas if r.kind == "serve" and r.ready]
        return live or [(self.replicas[0].name, self.replicas[0].url)]

    async def _settle(self, stream: Stream) -> None:
        """Wait (bounded) until nothing is queued, every rung due has fired and
        every acknowledged command is answered, or answers stopped coming."""
        limit = time.monotonic() + self.scenario.settle_limit
        quiet_since: float | None = None
        while time.monotonic() < limit:
            await asyncio.sleep(1.0)
            with self.db.tolerant():
                # Steps first: a rung's notices are committed with its escalation row,
                # so once every step is recorded, the outbox read after it holds them
                # all. (The other order once let a rung committed between the two
                # reads pass for settled, and the count found its DM undelivered.)
                if self.db.steps_to_come() or self.db.unsettled():
                    quiet_since = None
                    continue
                quiet_since = quiet_since or time.monotonic()
                if self._all_answered(stream) or time.monotonic() - quiet_since > ANSWER_GRACE:
                    return
        self.note(f"not settled within {self.scenario.settle_limit:.0f}s")

    def _all_answered(self, stream: Stream) -> bool:
        dm_markers = {
            marker_of(str(call.args.get("text", "")))
            for call in self.fake.calls_to("chat.postMessage")
            if call.ok
        }
        return all(
            self.fake.responses.get(s.response_url) or s.n in dm_markers
            for s in stream.sent
            if s.acked
        )


async def run_once(
    scenario: Scenario,
    database: str,
    workdir: Path,
    *,
    quick: bool,
    number: int = 1,
    pg: PostgresServer | None = None,
) -> Figures:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    run = Run(scenario, database, workdir, quick, number, pg)
    return await run.go()


@contextlib.contextmanager
def own_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for a bench run (127.0.0.1; commits durable, so
    that stopping it as a crash does loses nothing acknowledged; fsync off)."""
    from tests import postgres_server

    server = postgres_server.start(durable=True)
    try:
        yield server
    finally:
        server.stop()
