"""The insight rollups, kept by delta, always equal a full recomputation.

Random sequences of everything that changes a request's figures, through the real
use cases and the way channels run them (bot.acting: a savepoint per command, a
refusal rolled back inside a committed transaction; several commands in one
transaction like the command pump): filing, claims, hand-overs, replies, waiting
on the requester, resolving, ratings, reopening, closing, priority changes, the
SLA sweep (escalations, survey reminders, auto-close), a catalog that moves a
requester to another department, and transactions that fail and roll back. After
each sequence every rollup table holds exactly what `insight_rollup.rebuild`
computes from the requests. On SQLite and PostgreSQL (the `desk` fixture).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.acting import attempt_as, attempt_in
from handlers import insight_rollup, survey, work
from handlers.catalog_apply import apply_catalog
from handlers.filing import file_request
from handlers.people import Identity
from handlers.sweep import sweep_due
from models.catalog import parse_catalog
from models.clock import Clock
from models.directory import Person
from models.insight_rollup import (
    InsightCategory,
    InsightDay,
    InsightDepartment,
    InsightDuration,
    InsightPerson,
    InsightTally,
)
from models.requests import Request
from models.vocabulary import Status
from tests.integration.conftest import CATALOG, Desk, statements_sent

ROLLUPS = (
    InsightDay,
    InsightDepartment,
    InsightTally,
    InsightCategory,
    InsightPerson,
    InsightDuration,
)
REQUESTERS = ("sam@example.com", "fay@example.com", "carol@example.com", "newcomer@example.com")
AGENTS = {"it": ("alice@example.com", "bob@example.com"), "finance": ("fay@example.com",)}
DEPARTMENTS = ("Sales", "Finance", "Operations", "Treasury", "Legal")
# Small steps and long ones: standards lapse, ladders climb, surveys auto-close
# (3 days), and filings spread over UTC days and ISO weeks.
STEPS = (
    timedelta(minutes=3),
    timedelta(minutes=40),
    timedelta(hours=2),
    timedelta(hours=9),
    timedelta(days=1),
    timedelta(days=3, hours=1),
)

Work = Callable[[AsyncSession, Person], Awaitable[Any]]


class Failed(Exception):
    """Raised inside a transaction to roll all of it back."""


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every rollup table's rows, without their ids."""
    async with sessions() as session:
        return await session.run_sync(lambda sync: _rows(sync.connection()))


async def recomputed(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[str, Counter[tuple[Any, ...]]]:
    """The rollups as a full recomputation from the requests has them (rolled back)."""
    async with sessions() as session:

        def rebuilt(sync: Any) -> dict[str, Counter[tuple[Any, ...]]]:
            connection = sync.connection()
            insight_rollup.rebuild(connection)
            return _rows(connection)

        found = await session.run_sync(rebuilt)
        await session.rollback()
        return found


def _rows(connection: Any) -> dict[str, Counter[tuple[Any, ...]]]:
    found = {}
    for model in ROLLUPS:
        columns = [c for c in model.__table__.c if c.name != "id"]
        found[model.__tablename__] = Counter(
            tuple(row) for row in connection.execute(select(*columns))
        )
    return found


class Player:
    """Plays one random sequence on a desk."""

    def __init__(self, desk: Desk, seed: int) -> None:
        self.desk = desk
        self.random = random.Random(seed)
        self.keys: list[str] = []
        self.requester_of: dict[str, str] = {}
        self.departments = {"sam@example.com": "Sales", "fay@example.com": "Finance"}
        self.done: Counter[str] = Counter()

    @property
    def clock(self) -> Clock:
        return self.desk.clock

    def choose(self, options: Any) -> Any:
        return self.random.choice(list(options))

    def key(self) -> str:
        # Mostly recent requests: older ones are mostly closed.
        return self.choose(self.keys[-6:]) if self.random.random() < 0.8 else self.choose(self.keys)

    async def command(self, session: AsyncSession) -> tuple[str, Work]:
        """A random command: who runs it, and the work (`session` to read with)."""
        r = self.random
        clock = self.clock
        if not self.keys or r.random() < 0.2:
            team = self.choose(AGENTS)
            category = (
                self.choose(["Hardware", "Software", "Access", None]) if team == "it" else None
            )
            priority = self.choose(["urgent", "normal", "low"])

            email = self.choose(REQUESTERS)

            async def file(session: AsyncSession, person: Person) -> Any:
                filed = await file_request(
                    session,
                    clock,
                    person,
                    team=team,
                    title="Trouble",
                    category=category,
                    priority=priority,
                )
                if filed.request.key not in self.keys:
                    self.keys.append(filed.request.key)
                self.requester_of[filed.request.key] = email
                return filed

            return email, file
        key = self.key()
        team = "finance" if key.startswith("FIN") else "it"
        agent = self.choose(AGENTS[team])
        # Now and then someone else than its requester: refused.
        requester = self.requester_of.get(key, "sam@example.com")
        if r.random() < 0.15:
            requester = self.choose(REQUESTERS)
        claim = (agent, lambda s, p: work.claim(s, clock, p, key))
        take_over = (agent, lambda s, p: work.take_over(s, clock, p, key))
        assign = (agent, lambda s, p: work.assign(s, clock, p, key, self.choose(AGENTS[team])))
        reply = (agent, lambda s, p: work.reply(s, clock, p, key, "On it"))
        note = (agent, lambda s, p: work.reply(s, clock, p, key, "Note", internal=True))
        wait = (agent, lambda s, p: work.wait_on_requester(s, clock, p, key, "Which one?"))
        answer = (requester, lambda s, p: work.reply(s, clock, p, key, "This one"))
        resume = (agent, lambda s, p: work.resume(s, clock, p, key))
        resolve = (agent, lambda s, p: work.resolve(s, clock, p, key, "Fixed"))
        priority = (
            agent,
            lambda s, p: work.set_priority(
                s, clock, p, key, self.choose(["urgent", "normal", "low"])
            ),
        )
        rate = (requester, lambda s, p: survey.rate(s, clock, p, key, r.randint(1, 5)))
        reopen = (requester, lambda s, p: survey.reopen(s, clock, p, key, "Again"))
        close = (requester, lambda s, p: survey.close(s, clock, p, key))
        fitting = {
            Status.OPEN: [claim, assign, reply, note, priority, resolve],
            Status.IN_PROGRESS: [take_over, assign, reply, wait, resolve, resolve, priority],
            Status.WAITING: [answer, resume, resolve, priority],
            Status.RESOLVED: [rate, rate, reopen, reopen, close],
            Status.CLOSED: [rate, reopen],
        }
        everything = [action for actions in fitting.values() for action in actions]
        # Mostly what the request's state allows; sometimes anything (refused).
        status = await session.scalar(select(Request.status).where(Request.key == key))
        if status is None or r.random() < 0.25:
            return self.choose(everything)
        return self.choose(fitting[status])

    async def step(self) -> None:
        r = self.random
        self.clock.advance(self.choose(STEPS) * r.random())
        roll = r.random()
        if roll < 0.55:
            self.done["command"] += 1
            async with self.desk.sessions() as session:
                email, job = await self.command(session)
            await attempt_as(
                self.desk.sessions, Identity(email=email), job, esc=str, default_timezone="UTC"
            )
        elif roll < 0.7:
            # Several commands in one transaction, each in its savepoint (the
            # command pump): a request filed and acted on, or taken twice, in one.
            self.done["batch"] += 1
            async with self.desk.sessions.begin() as session:
                for _ in range(r.randint(2, 5)):
                    email, job = await self.command(session)
                    await attempt_in(
                        session, Identity(email=email), job, esc=str, default_timezone="UTC"
                    )
        elif roll < 0.8:
            self.done["sweep"] += 1
            await sweep_due(self.desk.sessions, self.clock)
        elif roll < 0.9:
            self.done["rolled back"] += 1
            with pytest.raises(Failed):
                async with self.desk.sessions.begin() as session:
                    for _ in range(r.randint(1, 3)):
                        email, job = await self.command(session)
                        await attempt_in(
                            session, Identity(email=email), job, esc=str, default_timezone="UTC"
                        )
                    raise Failed
            # The keys filed in it are gone (their numbers come again).
            self.keys = await self._existing()
        else:
            self.done["department moved"] += 1
            await self.move_department()

    async def move_department(self) -> None:
        email = self.choose(["sam@example.com", "fay@example.com", "carol@example.com"])
        self.departments[email] = self.choose(DEPARTMENTS)
        catalog = CATALOG
        for person, department in self.departments.items():
            catalog = re.sub(
                rf"(email: {re.escape(person)}, [^}}]*?department: )\w+",
                rf"\g<1>{department}",
                catalog,
            )
        async with self.desk.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(catalog, "moved.yaml"))

    async def _existing(self) -> list[str]:
        async with self.desk.sessions() as session:
            return list(await session.scalars(select(Request.key).order_by(Request.id)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_random_changes_keep_every_rollup_equal_to_a_full_recomputation(
    desk: Desk, seed: int
) -> None:
    player = Player(desk, seed)
    for step in range(80):
        await player.step()
        if step % 20 == 19:
            assert await stored(desk.sessions) == await recomputed(desk.sessions), (
                step,
                player.done,
            )
    # The sequence did reach what it is meant to test.
    found = await stored(desk.sessions)
    assert sum(found["insight_days"].values()) > 0
    assert {"command", "batch", "sweep", "rolled back", "department moved"} <= set(player.done)
    assert await stored(desk.sessions) == await recomputed(desk.sessions), player.done


async def test_the_rollups_hold_what_the_seeded_fortnight_did(desk: Desk) -> None:
    """Every kind of figure is reached at least once (a rating, a level, a breach,
    a resolution by someone, a histogram on both clocks) and equals a rebuild."""
    from tests.integration.insight_seed import seed

    await seed(desk)
    found = await stored(desk.sessions)
    kinds = {row[2] for row in found["insight_tallies"]}
    assert kinds == {"rating", "level"}
    assert found["insight_categories"] and found["insight_people"]
    durations = found["insight_durations"]
    assert any(row[3] for row in durations) and any(row[4] for row in durations)
    assert found == await recomputed(desk.sessions)


async def test_a_rolled_back_change_leaves_the_rollups_as_they_were(desk: Desk) -> None:
    player = Player(desk, 7)
    for _ in range(15):
        await player.step()
    before = await stored(desk.sessions)
    sam = Identity(email="sam@example.com")
    clock = desk.clock

    async def file_and_work(session: AsyncSession, person: Person) -> None:
        filed = await file_request(
            session, clock, person, team="it", title="Screen", category="Hardware"
        )
        alice = await session.scalar(select(Person).where(Person.email == "alice@example.com"))
        assert alice is not None
        await work.claim(session, clock, alice, filed.request.key)
        await work.resolve(session, clock, alice, filed.request.key, "Fixed")
        await survey.rate(session, clock, person, filed.request.key, 5)

    with pytest.raises(Failed):
        async with desk.sessions.begin() as session:
            await attempt_in(session, sam, file_and_work, esc=str, default_timezone="UTC")
            for key in player.keys[-3:]:
                await attempt_in(
                    session,
                    Identity(email="alice@example.com"),
                    lambda s, p, key=key: work.resolve(s, clock, p, key, "Fixed"),
                    esc=str,
                    default_timezone="UTC",
                )
            raise Failed
    assert await stored(desk.sessions) == before
    # The same changes committed do count: the rollback is what undid them.
    async with desk.sessions.begin() as session:
        await attempt_in(session, sam, file_and_work, esc=str, default_timezone="UTC")
    assert await stored(desk.sessions) != before
    assert await stored(desk.sessions) == await recomputed(desk.sessions)


async def test_a_session_that_rolled_back_starts_afresh(desk: Desk) -> None:
    """What a rolled-back transaction took is forgotten: the same session's next
    transaction reads the request as others left it meanwhile."""
    key = await file_as(desk, "sam@example.com", "Printer")
    alice = await desk.person("alice@example.com")
    bob = await desk.person("bob@example.com")
    clock = desk.clock
    async with desk.sessions() as session:
        await work.claim(session, clock, alice, key)
        await session.rollback()
        # (A Person of its own: the rollback expired the one the claim attached.)
        alice = await desk.person("alice@example.com")
        async with desk.sessions.begin() as other:
            await work.claim(other, clock, alice, key)
            await work.resolve(other, clock, alice, key, "Fixed")
        await work.reply(session, clock, bob, key, "Anything else?", internal=True)
        await session.commit()
    found = await stored(desk.sessions)
    assert [row[2:4] for row in found["insight_days"]] == [(1, 1)]  # volume, resolved
    assert found == await recomputed(desk.sessions)


async def test_the_rollups_are_settled_once_per_transaction_not_per_savepoint(
    desk: Desk,
) -> None:
    """Ten filings in one transaction, each in its savepoint (the command pump):
    one contribution SELECT and one upsert per rollup table they change."""
    sam = Identity(email="sam@example.com")
    await desk.person("sam@example.com")
    with statements_sent(desk.sessions) as statements:
        async with desk.sessions.begin() as session:
            for _ in range(10):
                await attempt_in(
                    session,
                    sam,
                    lambda s, p: file_request(s, desk.clock, p, team="it", title="Mouse"),
                    esc=str,
                    default_timezone="UTC",
                )
    sent = [" ".join(sql.split()[:3]) for sql in statements]
    rollup_statements = [s for s in sent if "insight" in s or s.startswith("SELECT 0 AS")]
    assert rollup_statements == [
        "SELECT 0 AS",
        "INSERT INTO insight_days",
        "INSERT INTO insight_departments",
    ]
    days = (await stored(desk.sessions))["insight_days"]
    assert [row[2] for row in days] == [10]  # volume


# --- two transactions at once (PostgreSQL: SQLite runs one writer at a time) ---------


async def waiting_for_locks(engine: Any, count: int) -> None:
    """Until `count` other connections wait for a lock (10 s at most)."""
    async with engine.connect() as connection:
        for _ in range(200):
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
            if waiting >= count:
                return
            await connection.rollback()
            await asyncio.sleep(0.05)
    raise AssertionError(f"{count} transactions never waited for a lock")


@pytest.fixture
async def pg_desk(postgresql_url: str, catalog: Any) -> Any:
    from app import build_engine, build_sessions
    from models.clock import ManualClock
    from tests.integration.conftest import MONDAY_10

    engine = build_engine(postgresql_url)
    sessions = build_sessions(engine)
    async with sessions.begin() as session:
        await apply_catalog(session, catalog)
    try:
        yield Desk(sessions, ManualClock(MONDAY_10), catalog)
    finally:
        await engine.dispose()


async def file_as(desk: Desk, email: str, title: str) -> str:
    person = await desk.person(email)
    async with desk.sessions.begin() as session:
        filed = await file_request(session, desk.clock, person, team="it", title=title)
        return filed.request.key


@pytest.mark.postgres
async def test_two_transactions_counting_in_one_bucket_at_once_both_count(
    pg_desk: Desk,
) -> None:
    desk = pg_desk
    key = await file_as(desk, "sam@example.com", "First")
    engine = desk.sessions.kw["bind"]
    alice = await desk.person("alice@example.com")
    async with engine.connect() as locker:
        # Hold the bucket's rows, so both transactions below reach their upserts
        # and wait there together, each having read its difference already.
        await locker.execute(text("SELECT id FROM insight_days FOR UPDATE"))
        await locker.execute(text("SELECT id FROM insight_departments FOR UPDATE"))

        async def claim() -> None:
            async with desk.sessions.begin() as session:
                await work.claim(session, desk.clock, alice, key)

        both = [
            asyncio.create_task(file_as(desk, "fay@example.com", "Second")),
            asyncio.create_task(claim()),
        ]
        await waiting_for_locks(engine, 2)
        await locker.rollback()
    await asyncio.gather(*both)
    found = await stored(desk.sessions)
    ((day,),) = [[row] for row in found["insight_days"]]
    _team, _day, volume, _resolved, _within, answered = day[:6]
    assert (volume, answered) == (2, 1)
    assert found == await recomputed(desk.sessions)


@pytest.mark.postgres
async def test_a_department_move_waits_for_an_action_on_one_of_the_requests(
    pg_desk: Desk,
) -> None:
    """The move reads the requests' figures under their row locks: an action in
    flight finishes first and the move starts from its result."""
    desk = pg_desk
    key = await file_as(desk, "sam@example.com", "First")
    alice = await desk.person("alice@example.com")
    engine = desk.sessions.kw["bind"]
    claimed, go = asyncio.Event(), asyncio.Event()

    async def claim_and_resolve() -> None:
        async with desk.sessions.begin() as session:
            await work.claim(session, desk.clock, alice, key)
            claimed.set()
            await go.wait()
            await work.resolve(session, desk.clock, alice, key, "Fixed")

    async def move() -> None:
        moved = CATALOG.replace("department: Sales", "department: Treasury")
        async with desk.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(moved, "moved.yaml"))

    acting = asyncio.create_task(claim_and_resolve())
    await claimed.wait()
    moving = asyncio.create_task(move())
    await waiting_for_locks(engine, 1)
    go.set()
    await asyncio.gather(acting, moving)
    found = await stored(desk.sessions)
    assert [(row[2], row[3], row[4]) for row in found["insight_departments"]] == [
        ("Treasury", 1, 1)  # department, volume, resolved
    ]
    assert found == await recomputed(desk.sessions)


async def test_only_the_desk_s_own_sessions_keep_the_rollups(desk: Desk) -> None:
    """The hook is the composition root's (app.build_sessions), not registered at
    import: a session of another factory that tries to change a request is refused
    before it changes anything, rather than leaving the rollups behind."""
    key = await file_as(desk, "sam@example.com", "Printer")
    alice = await desk.person("alice@example.com")
    before = await stored(desk.sessions)
    plain = async_sessionmaker(desk.sessions.kw["bind"], expire_on_commit=False)
    with pytest.raises(RuntimeError, match="does not keep the insight rollups"):
        async with plain.begin() as session:
            await work.claim(session, desk.clock, alice, key)
    assert await stored(desk.sessions) == before


@pytest.mark.postgres
@pytest.mark.parametrize("first", ["filing", "move"])
async def test_a_request_filed_while_its_requester_moves_counts_under_the_new_department(
    pg_desk: Desk, first: str
) -> None:
    """A filing and a catalog that moves its requester to another department, at
    once, in either order: whichever commits second waits for the first, and the
    request ends up under the new department."""
    desk = pg_desk
    sam = await desk.person("sam@example.com")
    moved = parse_catalog(CATALOG.replace("department: Sales", "department: Treasury"), "m.yaml")
    engine = desk.sessions.kw["bind"]
    holding, go = asyncio.Event(), asyncio.Event()

    async def file() -> None:
        async with desk.sessions.begin() as session:
            await file_request(session, desk.clock, sam, team="it", title="Printer")
            if first == "filing":
                holding.set()
                await go.wait()

    async def move() -> None:
        async with desk.sessions.begin() as session:
            await apply_catalog(session, moved)
            if first == "move":
                holding.set()
                await go.wait()

    one, other = (file, move) if first == "filing" else (move, file)
    started = asyncio.create_task(one())
    await holding.wait()
    second = asyncio.create_task(other())
    await waiting_for_locks(engine, 1)
    go.set()
    await asyncio.gather(started, second)
    found = await stored(desk.sessions)
    assert [(row[2], row[3]) for row in found["insight_departments"]] == [("Treasury", 1)]
    assert found == await recomputed(desk.sessions)


async def test_a_change_to_a_request_not_taken_for_it_is_refused(desk: Desk) -> None:
    """A writer that changes a request without taking it first (its figures before)
    would drift the rollups silently: recording the change fails instead."""
    from handlers.access import record

    key = await file_as(desk, "sam@example.com", "Printer")
    before = await stored(desk.sessions)
    with pytest.raises(RuntimeError, match=r"changed without insight_rollup\.take"):
        async with desk.sessions.begin() as session:
            request = await session.scalar(select(Request).where(Request.key == key))
            assert request is not None
            request.status = Status.RESOLVED
            record(session, request, None, "resolved", desk.clock.now())
    assert await stored(desk.sessions) == before
