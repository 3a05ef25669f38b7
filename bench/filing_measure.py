"""The measurements of `bench.filing`: one burst of quick-files filed by the real desk
(over signed HTTP, or the use case called directly), the same requests written as
plain inserts (the floor), and the team cards delivered afterwards, each with the
SQL statements it sent counted.

Every measurement gets a fresh database of its own (`Databases.fresh`): a copy of
one migrated template with the bench catalog applied, so every run starts from the
same desk and none pays for the rows an earlier one left.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web
from sqlalchemy import Table, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import build_engine, build_sessions, run_migrations
from bench.slack_ack_load import Load, Outcome, ResponseUrls, Server, filed_patterns
from bench.slack_ack_server import (
    TEAM_CHANNEL,
    USERS,
    apply_bench_catalog,
    fake_workspace,
    ours_runtime,
)
from bench.throwaway_postgres import ThrowawayDatabases
from tests.fakes.slack_api import FakeSlack

# Connections the burst is sent on (each sends its next command when the last is
# answered), as a burst from many people's Slack clients arrives side by side.
BURST_CONNECTIONS = 20
# Warm-up before each measurement: one filing per bench user, delivered, so caches
# (people, languages, Bolt's auth.test, compiled statements) are as in a warm server.
WARMUP = len(USERS)
# Filing and delivering are waited for without a fixed budget: this long without a
# single request filed (or notice delivered) ends the measurement as a failure.
STALL_SECONDS = 60.0
# The floor's request numbers, far from the desk's own (1, 2, ...).
FLOOR_NUMBERS = 1_000_000
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


# --- counting statements ----------------------------------------------------------------


def label_of(sql: str) -> str:
    """What a statement does, by verb and table: `INSERT requests`, `SELECT people`."""
    flat = " ".join(sql.replace('"', "").split())
    words = flat.split(" ")
    verb = words[0].upper()
    if verb == "INSERT" and len(words) > 2:
        return f"INSERT {words[2]}"
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    if verb == "DELETE" and len(words) > 2:
        return f"DELETE {words[2]}"
    if verb in ("SELECT", "WITH"):
        found = re.search(r"\bFROM (\w+)", flat, re.IGNORECASE)
        if found:
            return f"SELECT {found.group(1)}"
        # No table: a function call such as PostgreSQL's advisory lock.
        return f"SELECT {words[1].split('(')[0] if len(words) > 1 else ''}".rstrip()
    if verb == "RELEASE":
        return "RELEASE SAVEPOINT"
    if verb == "ROLLBACK":
        return "ROLLBACK TO SAVEPOINT"
    return verb


@dataclass
class Statements:
    """Counts what an engine sends while `on`: every cursor execute (an executemany
    counts once) by label, and the transactions begun; and the CPU time spent.
    `BEGIN` itself is left out of the statements: SQLite's engine sends `BEGIN
    IMMEDIATE` as a statement, asyncpg begins without one, and the transactions are
    counted apart."""

    on: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    requests_inserted: int = 0

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "begin", self._begin)

    cpu_started: float = 0.0

    def start(self) -> None:
        self.counts, self.transactions, self.requests_inserted = Counter(), 0, 0
        self.cpu_started = time.process_time()
        self.on = True

    def stop(self) -> Counted:
        self.on = False
        cpu = time.process_time() - self.cpu_started
        return Counted(Counter(self.counts), self.transactions, cpu)

    def _statement(self, _c: Any, _cur: Any, sql: str, _p: Any, _ctx: Any, _many: bool) -> None:
        if not self.on:
            return
        label = label_of(sql)
        if label == "BEGIN":
            return
        self.counts[label] += 1
        if label == "INSERT requests":
            self.requests_inserted += 1

    def _begin(self, _connection: Any) -> None:
        if self.on:
            self.transactions += 1


@dataclass(frozen=True)
class Counted:
    by_label: Counter[str]
    transactions: int
    # CPU seconds of this whole process meanwhile (all its threads: aiosqlite's too;
    # over HTTP also the load, the fake Slack and the response_urls; never PostgreSQL's).
    cpu_seconds: float = 0.0

    @property
    def statements(self) -> int:
        return sum(self.by_label.values())

    @property
    def savepoints(self) -> int:
        return sum(n for label, n in self.by_label.items() if label in TRANSACTION_CONTROL)


# --- results ---------------------------------------------------------------------------


@dataclass
class Delivery:
    """The outbox delivered after a burst: every notice the burst queued."""

    notices: int  # delivered
    cards: int  # top-level posts in the team channel
    answers: int  # posts to the commands' response_urls
    dead: int
    seconds: float
    counted: Counted

    @property
    def cards_per_second(self) -> float:
        return self.cards / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Filing:
    variant: str  # "http", "direct" or "floor"
    n: int  # requests stored by the burst
    seconds: float  # first command sent (or first filing begun) to the last one committed
    counted: Counted
    delivery: Delivery | None = None
    ack_seconds: float | None = None  # http: the whole burst acknowledged
    problems: list[str] = field(default_factory=list)  # what the checks found wrong

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0


# --- fresh databases ---------------------------------------------------------------------


class Databases:
    """A migrated template with the bench catalog, and a fresh copy of it per run."""

    label = ""

    async def prepare(self) -> None:
        raise NotImplementedError

    async def fresh(self) -> str:
        raise NotImplementedError

    async def drop(self, url: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


async def _template(url: str) -> str:
    """Migrate `url` to head (alembic runs its own loop: in a thread) and apply the
    bench catalog; returns what the engine reports of its durability."""
    await asyncio.to_thread(run_migrations, url)
    engine = build_engine(url)
    try:
        await apply_bench_catalog(build_sessions(engine))
        async with engine.connect() as connection:
            if url.startswith("sqlite"):
                journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
                synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar()
                names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
                level = names.get(int(synchronous or 0), str(synchronous))
                return f"journal_mode={journal}, synchronous={level}"
            version = (await connection.execute(text("SHOW server_version"))).scalar()
            settings = [
                f"{name}={(await connection.execute(text(f'SHOW {name}'))).scalar()}"
                for name in ("fsync", "synchronous_commit")
            ]
            return f"PostgreSQL {version}, {', '.join(settings)}"
    finally:
        await engine.dispose()


class SqliteDatabases(Databases):
    label = "SQLite"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        self.described = ""

    async def prepare(self) -> None:
        self.described = await _template(f"sqlite+aiosqlite:///{self.template}")

    async def fresh(self) -> str:
        target = self.root / f"run-{uuid.uuid4().hex[:8]}.db"
        await asyncio.to_thread(shutil.copy, self.template, target)
        return f"sqlite+aiosqlite:///{target}"

    async def drop(self, url: str) -> None:
        path = url.removeprefix("sqlite+aiosqlite:///")
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{path}{suffix}").unlink, missing_ok=True)


class PostgresDatabases(Databases):
    """Databases on one server, each `CREATE DATABASE ... TEMPLATE` the migrated one."""

    label = "PostgreSQL"

    def __init__(self, host: str, port: int, user: str) -> None:
        self.server = ThrowawayDatabases(host, port, user)
        self.template = ""
        self.described = ""

    async def prepare(self) -> None:
        self.template = await self.server.create("bench_filing")
        self.described = await _template(self.template)

    async def fresh(self) -> str:
        return await self.server.create("run", template=self.template)

    async def drop(self, url: str) -> None:
        await self.server.drop(url)

    async def close(self) -> None:
        await self.server.drop(self.template)
        await self.server.close()


# --- waiting without a fixed budget ------------------------------------------------------


async def until(progress: Callable[[], int], target: int, done: asyncio.Event) -> None:
    """Wait for `done`, failing only when `progress()` stands still for STALL_SECONDS."""
    last, moved = progress(), time.perf_counter()
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), 1.0)
        except TimeoutError:
            now = progress()
            if now != last:
                last, moved = now, time.perf_counter()
            elif time.perf_counter() - moved > STALL_SECONDS:
                raise RuntimeError(
                    f"stalled at {now} of {target} for {STALL_SECONDS:.0f} s"
                ) from None


# --- the outbox --------------------------------------------------------------------------


async def deliver(
    runtime: Any, counter: Statements, fake: FakeSlack, responses: ResponseUrls, expected: int
) -> Delivery:
    """Run the real dispatch loop (`Runtime.dispatch`: handlers.delivery.dispatch_due
    with the Slack channel, against the fake Slack) until `expected` notices are out."""
    cards_before = _cards(fake)
    answers_before = sum(len(a) for a in responses.answers.values())
    counter.start()
    started = time.perf_counter()
    delivered = dead = 0
    while delivered + dead < expected:
        report = await runtime.dispatch()
        if report.delivered + report.dead == 0:
            break  # nothing more is due: the checks below say what is missing
        delivered += report.delivered
        dead += report.dead
    seconds = time.perf_counter() - started
    counted = counter.stop()
    return Delivery(
        notices=delivered,
        cards=_cards(fake) - cards_before,
        answers=sum(len(a) for a in responses.answers.values()) - answers_before,
        dead=dead,
        seconds=seconds,
        counted=counted,
    )


def _cards(fake: FakeSlack) -> int:
    return sum(1 for m in fake.messages.get(TEAM_CHANNEL, []) if m.thread_ts in (None, m.ts))


def _card_keys(fake: FakeSlack) -> Counter[str]:
    keys: Counter[str] = Counter()
    for message in fake.messages.get(TEAM_CHANNEL, []):
        if message.thread_ts in (None, message.ts):
            found = re.search(r"\bIT-\d+\b", message.text or "")
            keys[found.group(0) if found else "(no key)"] += 1
    return keys


async def _stored_keys(runtime: Any) -> list[str]:
    async with runtime.engine.connect() as connection:
        return [
            str(k) for k in (await connection.execute(text("SELECT key FROM requests"))).scalars()
        ]


def _check_cards(fake: FakeSlack, stored: list[str], problems: list[str]) -> None:
    keys = _card_keys(fake)
    if sorted(keys) != sorted(stored) or any(n != 1 for n in keys.values()):
        twice = sum(1 for n in keys.values() if n > 1)
        missing = len(set(stored) - set(keys))
        problems.append(f"cards: {missing} requests without one, {twice} carded twice")


# --- ours over HTTP ------------------------------------------------------------------------


async def _burst(load: Load, n: int, connections: int) -> list[Outcome]:
    """`n` distinct signed commands over `connections` connections, closed loop."""
    loop = asyncio.get_running_loop()
    numbers = iter(range(n))
    outcomes: list[Outcome] = []

    async def connection() -> None:
        for _ in numbers:
            outcomes.append(await load.one(loop.time()))

    await asyncio.gather(*(connection() for _ in range(connections)))
    return outcomes


class HttpBurst:
    """Sends quick-files to the app in this process and sees them filed: the pump
    nudges the dispatch loop after each commit that filed something, and that is
    when the bench looks whether the last request of a burst is in."""

    def __init__(self, load: Load, counter: Statements) -> None:
        self.load = load
        self.counter = counter
        self.outcomes: list[Outcome] = []
        self.target = 0
        self.filed = asyncio.Event()
        self.ended = 0.0

    def nudged(self) -> None:
        if self.counter.requests_inserted >= self.target and not self.filed.is_set():
            self.ended = time.perf_counter()
            self.filed.set()

    async def send(self, n: int, connections: int) -> tuple[int, float, float]:
        """`n` commands; how many were acknowledged as filing, when the first was
        sent and when the last acknowledgement came (perf_counter)."""
        self.filed.clear()
        self.target = n
        self.counter.start()
        started = time.perf_counter()
        outcomes = await _burst(self.load, n, connections)
        acked_at = time.perf_counter()
        self.outcomes += outcomes
        self.target = sum(o.ok for o in outcomes)
        self.nudged()
        await until(lambda: self.counter.requests_inserted, self.target, self.filed)
        return self.target, started, acked_at


async def ours_http(url: str, n: int, run_id: str) -> Filing:
    """A burst of `n` signed `/request it <text>` quick-files posted to the real app
    (`app.build_runtime`, served on 127.0.0.1 in this process), acknowledged by its
    listener and filed by its command pump; timed from the first command sent to
    the commit of the last request. Then its dispatch delivers what the burst
    queued: a team card and the answer at the response_url per command."""
    async with FakeSlack() as fake:
        fake_workspace(fake)
        responses = ResponseUrls()
        await responses.start()
        runtime = await ours_runtime(url, fake.url)
        counter = Statements()
        counter.attach(runtime.engine)
        runner = web.AppRunner(runtime.web)  # as `inhouse serve` builds it
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            server = Server("ours", "ours", Path("."))
            server.port = runner.addresses[0][1]
            connector = aiohttp.TCPConnector(limit=BURST_CONNECTIONS)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                load = Load(server, http, run_id, responses)
                burst = HttpBurst(load, counter)
                # No scheduler here: the outbox waits until the burst is filed.
                runtime.nudge = burst.nudged
                warm, _s, _a = await burst.send(WARMUP, 1)
                counter.stop()
                await deliver(runtime, counter, fake, responses, 2 * warm)
                acked, started, acked_at = await burst.send(n, BURST_CONNECTIONS)
                counted = counter.stop()
                stored = await _stored_keys(runtime)
                delivery = await deliver(runtime, counter, fake, responses, 2 * acked)
            filing = Filing("http", acked, burst.ended - started, counted, delivery)
            filing.ack_seconds = acked_at - started
            load.confirm(burst.outcomes)
            _check_http(filing, burst.outcomes, fake, stored, n)
            return filing
        finally:
            await runner.cleanup()
            await runtime.close()
            await responses.stop()


def _check_http(
    filing: Filing, outcomes: list[Outcome], fake: FakeSlack, stored: list[str], n: int
) -> None:
    if filing.n != n:
        filing.problems.append(f"{n - filing.n} of {n} commands not acknowledged as filing")
    answered = [o.key for o in outcomes if o.key]
    if sorted(answered) != sorted(stored):
        filing.problems.append(
            f"answers: {len(answered)} commands answered with their key, {len(stored)} requests"
        )
    if len(stored) != len(outcomes):
        filing.problems.append(f"{len(stored)} requests stored for {len(outcomes)} commands")
    _check_cards(fake, stored, filing.problems)
    if filing.delivery and filing.delivery.dead:
        filing.problems.append(f"{filing.delivery.dead} notices dead-lettered")


# --- ours, the use case called directly ----------------------------------------------------


async def ours_direct(url: str, n: int, run_id: str) -> Filing:
    """The same quick-file as the command pump carries it out for one command
    (`bot.acting.attempt_as`: the person resolved, a savepoint if the command needs
    one (a quick-file does not), `run_command` ->
    `handlers.filing.file_request`, the answer rendered), one transaction per
    request, one after the other; without the inbox (no HTTP, no take) and without
    queueing the answer. Then the dispatch delivers the team cards."""
    from bot.acting import attempt_as
    from bot.command_line import parse
    from bot.commands import needs_savepoint, run_command
    from bot.slack.mrkdwn import escape, instant
    from handlers.people import Identity

    async with FakeSlack() as fake:
        fake_workspace(fake)
        responses = ResponseUrls()
        runtime = await ours_runtime(url, fake.url)
        counter = Statements()
        counter.attach(runtime.engine)
        identities = itertools.cycle(
            [Identity(slack_user_id=uid, email=email) for uid, (email, *_r) in USERS.items()]
        )
        patterns = filed_patterns()
        numbers = itertools.count(1)
        problems: list[str] = []

        async def one() -> None:
            number = next(numbers)
            command = parse(
                f"/request it Bench {run_id} #{number}: printer on floor {number % 7} jams"
            )

            async def work(session: Any, person: Any) -> str:
                return await run_command(
                    session, runtime.clock, person, command, escape, when=instant
                )

            said = await attempt_as(
                runtime.sessions,
                next(identities),
                work,
                esc=escape,
                default_timezone="UTC",
                savepoint=needs_savepoint(command),
            )
            if not any(p.match(str(said)) for p in patterns):
                problems.append(f"not filed: {str(said)[:80]}")

        try:
            for _ in range(WARMUP):
                await one()
            await deliver(runtime, counter, fake, responses, WARMUP)
            counter.start()
            started = time.perf_counter()
            for _ in range(n):
                await one()
            seconds = time.perf_counter() - started
            counted = counter.stop()
            stored = await _stored_keys(runtime)
            delivery = await deliver(runtime, counter, fake, responses, n)
            filing = Filing("direct", n - len(problems), seconds, counted, delivery, None, problems)
            _check_cards(fake, stored, filing.problems)
            if len(stored) != n + WARMUP:
                filing.problems.append(f"{len(stored)} requests stored for {n + WARMUP} filings")
            return filing
        finally:
            await runtime.close()


# --- the floor -----------------------------------------------------------------------------


async def floor(url: str, n: int, run_id: str) -> Filing:
    """The minimum a desk must write per request, each in its own transaction: the
    request (`INSERT ... RETURNING id`), its audit event, its team card in the
    outbox; plain SQLAlchemy Core on the app's own engine (`app.build_engine`: the
    same pool, pragmas and `BEGIN IMMEDIATE` on SQLite)."""
    from models.outbox import OutboxMessage
    from models.requests import Request, RequestEvent
    from models.vocabulary import Priority, Status

    requests_t = cast(Table, Request.__table__)
    events_t = cast(Table, RequestEvent.__table__)
    outbox_t = cast(Table, OutboxMessage.__table__)
    engine = build_engine(url)
    counter = Statements()
    counter.attach(engine)
    try:
        async with engine.connect() as connection:
            team_id, team_name = (
                await connection.execute(text("SELECT id, name FROM teams WHERE key = 'it'"))
            ).one()
            people = (
                await connection.execute(
                    select(text("id"), text("display_name"))
                    .select_from(text("people"))
                    .where(text("slack_user_id IN ('U0LUCA', 'U0ERIK', 'U0FIONA', 'U0DANA')"))
                )
            ).all()
        requesters = itertools.cycle(people)
        first, resolution = 4 * 3600, 3 * 86400

        async def one(i: int) -> None:
            number = FLOOR_NUMBERS + i
            now = datetime.now(UTC)
            requester_id, requester_name = next(requesters)
            title = f"Bench {run_id} #{i}: printer on floor {i % 7} jams"
            async with engine.begin() as connection:
                request_id = (
                    await connection.execute(
                        insert(requests_t)
                        .values(
                            key=f"IT-{number}",
                            team_id=team_id,
                            number=number,
                            requester_id=requester_id,
                            priority=Priority.NORMAL,
                            title=title,
                            description="",
                            status=Status.OPEN,
                            created_at=now,
                            first_response_target_seconds=first,
                            resolution_target_seconds=resolution,
                            first_response_due_at=now + timedelta(seconds=first),
                            resolution_running_since=now,
                            resolution_due_at=now + timedelta(seconds=resolution),
                            next_check_at=now,
                        )
                        .returning(requests_t.c.id)
                    )
                ).scalar_one()
                await connection.execute(
                    insert(events_t).values(
                        request_id=request_id,
                        actor_id=requester_id,
                        kind="filed",
                        at=now,
                        data={
                            "priority": "normal",
                            "category": None,
                            "first_response_seconds": first,
                            "resolution_seconds": resolution,
                        },
                    )
                )
                await connection.execute(
                    insert(outbox_t).values(
                        request_id=request_id,
                        recipient_team_id=team_id,
                        kind="team_card",
                        payload={
                            "request": {
                                "request_id": request_id,
                                "key": f"IT-{number}",
                                "title": title,
                                "team_key": "it",
                                "team_name": team_name,
                                "status": "open",
                                "priority": "normal",
                                "category": None,
                                "requester_name": requester_name,
                                "assignee_name": None,
                                "created_at": now.isoformat(),
                                "first_response_at": None,
                                "first_response_due_at": (
                                    now + timedelta(seconds=first)
                                ).isoformat(),
                                "resolution_due_at": (
                                    now + timedelta(seconds=resolution)
                                ).isoformat(),
                                "resolution_note": None,
                                "escalation_level": 0,
                            }
                        },
                        created_at=now,
                        next_attempt_at=now,
                    )
                )

        for i in range(WARMUP):
            await one(-1 - i)
        counter.start()
        started = time.perf_counter()
        for i in range(n):
            await one(i)
        seconds = time.perf_counter() - started
        counted = counter.stop()
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT count(*) FROM requests WHERE number >= :lo"), {"lo": FLOOR_NUMBERS}
                )
            ).scalar_one()
        filing = Filing("floor", n, seconds, counted)
        if rows != n:
            filing.problems.append(f"{rows} rows stored for {n} requests")
        return filing
    finally:
        await engine.dispose()


MEASURE: dict[str, Callable[[str, int, str], Awaitable[Filing]]] = {
    "http": ours_http,
    "floor": floor,
    "direct": ours_direct,
}
