"""Keeping the insight rollups (models.insight_rollup) in step with the requests, by delta.

What a request contributes to the rollups is written once: the per-rollup SELECTs
of handlers.insight_sources, here filtered to requests by id instead of to a bucket.
A transaction that changes requests *takes* each one before it changes it
(handlers.access.load_request, the SLA sweep, a catalog's department move; a filing
says it `created` one): that reads what the request contributes now. Once, just
before the outermost commit, the same SELECTs read what the taken requests
contribute then, and only the difference is added to the rollup rows, with
INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x. The cost follows the
requests the transaction changed, not how many requests their buckets hold.

Why read the "before" instead of storing each request's contribution: the rows
read are the rows the rollups were made of (every committed change went through
here), so there is no second copy to keep in step, back-fill or migrate, and a
change that turns out to change no figure writes nothing. A request is taken
under its row lock (SELECT ... FOR UPDATE; SQLite serialises writers anyway), so
no other transaction can change it between the two reads.

The hook that settles the difference is registered by the composition root on its
own session factory (`keep_in_step`, called by app.build_sessions), not at
import, and does nothing at a savepoint's release: it runs once per outermost
commit, after everything the transaction did (several commands in savepoints
included). A rolled-back transaction takes its rollup rows with it, and what it
had taken is forgotten. Concurrency: the upserts add to the row the database
holds, so two transactions counting in one bucket both count; rows are written in
key order, so two settling transactions never wait for each other in a cycle; the
former per-team advisory lock (it serialised delete-and-reinsert) is gone.

`rebuild` recomputes every rollup from the requests (tests compare with it; an
operator can run it after repairing requests by hand).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    event,
    false,
    insert,
    literal_column,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.selectable import CompoundSelect

from handlers.insight_period import Source
from handlers.insight_sources import (
    category_rows,
    days_rows,
    department_rows,
    duration_rows,
    level_rows,
    people_rows,
    rating_rows,
)
from models.directory import Team
from models.insight_rollup import (
    InsightCategory,
    InsightDay,
    InsightDepartment,
    InsightDuration,
    InsightPerson,
    InsightTally,
)
from models.requests import Request

# Session.info key for what the current transaction took (a _Taken).
_TAKEN = "insight_taken"
# Set on the session classes whose commits settle the difference (keep_in_step).
_KEPT = "keeps_insight_rollups"
# Requests per contribution SELECT: the ids are bound once per source (eight
# times), well under any driver's limit on parameters.
_CHUNK = 500


@dataclass(frozen=True)
class _Rollup:
    """A rollup table, and the sources that fill it (the tallies have two)."""

    model: Any
    sources: tuple[Source, ...]
    bucket: str  # its day or week column


_ROLLUPS = (
    _Rollup(InsightDay, (days_rows,), "day"),
    _Rollup(InsightDepartment, (department_rows,), "day"),
    _Rollup(InsightTally, (rating_rows, level_rows), "day"),
    _Rollup(InsightCategory, (category_rows,), "day"),
    _Rollup(InsightPerson, (people_rows,), "day"),
    _Rollup(InsightDuration, (duration_rows,), "week"),
)

# A rollup row's key: (team_id, day or week, then its own key columns, in the order
# of its unique constraint); figures: its sums, per (index in _ROLLUPS, key).
Key = tuple[Any, ...]
Figures = dict[tuple[int, Key], list[int]]


@dataclass
class _Taken:
    """The requests this transaction took, and what they contributed then (added up:
    only the total difference is written)."""

    ids: set[int] = field(default_factory=set)
    before: Figures = field(default_factory=dict)


# --- the write path -----------------------------------------------------------------


async def take(session: AsyncSession, requests: Iterable[Request]) -> None:
    """These requests are about to change: note what they contribute now. Call it
    holding their row locks, before changing them. Only a request's first take in
    the transaction counts: that is the state the rollups were made of."""
    taken = _taken(session)
    ids = sorted({r.id for r in requests} - taken.ids)
    if not ids:
        return
    # Not flushed first: the taken requests have no pending changes (they are
    # taken before they change), and nothing else bears on their figures.
    connection = await session.connection()
    _add(taken.before, await connection.run_sync(_read, ids), 1)
    taken.ids.update(ids)


def created(session: AsyncSession, request: Request) -> None:
    """A request filed in this transaction (flushed, so it has its id): it
    contributed nothing before."""
    _taken(session).ids.add(request.id)


def require_taken(session: AsyncSession, request: Request) -> None:
    """A change to this request is being recorded (handlers.access.record): it must
    have been taken or created first, else its figures would be counted from the
    wrong start. A bug, so it fails loudly."""
    if request.id not in _taken(session).ids:
        raise RuntimeError(f"{request.key} changed without insight_rollup.take")


async def take_requester(session: AsyncSession, person_id: int) -> None:
    """The person's department is about to change (call it before): that moves all
    their requests in the department matrix. They are locked like any change
    locks its request, so an action on one of them finishes first and is counted
    from its result.

    A request being filed meanwhile is not among them yet, and its filing counts it
    under the department it reads. Every filing locks its team's row (the number
    counter, handlers.filing), so holding all the teams' rows here first makes a
    filing in flight commit before (and be taken below), and one that starts wait
    for this transaction, then read the new department. (On PostgreSQL; SQLite
    runs one writer at a time.) FOR NO KEY UPDATE, the filing's own lock: it lets
    other changes insert rows that refer to a team (a KEY SHARE lock) meanwhile.
    One interleaving can still deadlock, and PostgreSQL then aborts one side: a
    transaction that changes one of these requests and then files a request (the
    command pump's batch), while a catalog moves the requester."""
    await session.execute(select(Team.id).order_by(Team.id).with_for_update(key_share=True))
    requests = await session.scalars(
        select(Request)
        .where(Request.requester_id == person_id)
        .order_by(Request.id)
        .with_for_update(of=Request)
    )
    await take(session, requests.unique())


def keep_in_step(session_class: type[Session]) -> None:
    """For the composition root, on its session factory's own class: a session of
    this class settles what it took when it commits its outermost transaction, and
    forgets it when that transaction ends otherwise."""
    setattr(session_class, _KEPT, True)
    event.listen(session_class, "before_commit", _before_commit)
    event.listen(session_class, "after_transaction_end", _after_transaction_end)


def _taken(session: AsyncSession) -> _Taken:
    if not getattr(session.sync_session, _KEPT, False):
        # Taking without settling would leave the rollups behind, silently.
        raise RuntimeError("this session's factory does not keep the insight rollups")
    taken: _Taken = session.info.setdefault(_TAKEN, _Taken())
    return taken


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: the outermost commit settles it all, once
    settle(session)


def settle(session: Session) -> None:
    """Add the difference the taken requests made to the rollups, and forget them.
    The hook calls it at the outermost commit (bench/report.py times it alone)."""
    taken: _Taken | None = session.info.pop(_TAKEN, None)
    if taken is None or not taken.ids:
        return
    session.flush()
    connection = session.connection()
    after = _read(connection, sorted(taken.ids))
    _apply(connection, _add(after, taken.before, -1))


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # Committed (settled already), rolled back or closed: nothing carries over.
        session.info.pop(_TAKEN, None)


# --- reading a contribution -----------------------------------------------------------


def _read(connection: Connection, ids: Sequence[int]) -> Figures:
    """What these requests contribute to every rollup, added up per rollup row."""
    dialect = connection.dialect.name
    shapes = _shapes(dialect)
    found: Figures = {}
    for chunk in _chunks(ids):
        for row in connection.execute(_contribution(dialect), {"ids": chunk}):
            index, team_id, bucket, text_key, int_key, *sums = row
            shape = shapes[index]
            key = (int(team_id), _as_date(bucket), *shape.key_of(text_key, int_key))
            # Added, not set: a key's requests may fall in several chunks.
            _add(found, {(shape.rollup, key): [int(n) for n in sums[: len(shape.sums)]]}, 1)
    return found


def _add(into: Figures, figures: Figures, sign: int) -> Figures:
    for slot, sums in figures.items():
        held = into.setdefault(slot, [0] * len(sums))
        for i, n in enumerate(sums):
            held[i] += sign * n
    return into


@dataclass(frozen=True)
class _Shape:
    """One source's place in the contribution SELECT: its rollup (index into
    _ROLLUPS), its own key columns (at most one text and one integer) and sums."""

    rollup: int
    keys: tuple[str, ...]
    text_key: str | None
    int_key: str | None
    sums: tuple[str, ...]

    def key_of(self, text_key: Any, int_key: Any) -> tuple[Any, ...]:
        return tuple(str(text_key) if name == self.text_key else int(int_key) for name in self.keys)


@cache
def _shapes(dialect: str) -> tuple[_Shape, ...]:
    """Read off the rollup models and their sources, so nothing here repeats them."""
    shapes = []
    for index, rollup in enumerate(_ROLLUPS):
        table = rollup.model.__table__
        unique = _unique_key(rollup.model)
        assert unique[:2] == ["team_id", rollup.bucket], unique
        keys = tuple(unique[2:])
        texts = [k for k in keys if isinstance(table.c[k].type, String)]
        ints = [k for k in keys if k not in texts]
        assert len(texts) <= 1 and len(ints) <= 1, unique
        sums: tuple[str, ...] | None = None
        for source in rollup.sources:
            names = [c.name for c in source(false(), dialect).selected_columns]
            assert names[: len(unique)] == unique, names
            if sums is None:
                sums = tuple(names[len(unique) :])
            # The rollup's upsert adds the same sums whichever source a row came from.
            assert tuple(names[len(unique) :]) == sums, names
            shapes.append(
                _Shape(index, keys, texts[0] if texts else None, ints[0] if ints else None, sums)
            )
    return tuple(shapes)


def _unique_key(model: Any) -> list[str]:
    """The columns of the rollup's one unique constraint: a row's identity."""
    (unique,) = [c for c in model.__table__.constraints if isinstance(c, UniqueConstraint)]
    return [c.name for c in unique.columns]


@cache
def _contribution(dialect: str) -> CompoundSelect[Any]:
    """Every source at once for the requests bound as `ids` (one statement instead
    of seven), as rows (source index, team_id, day or week, text key, integer key,
    sums...) padded with zeros to the widest source."""
    shapes = _shapes(dialect)
    width = max(len(shape.sums) for shape in shapes)
    mine = Request.id.in_(bindparam("ids", expanding=True))

    def constant(sql: str, type_: Any = Integer) -> Any:
        # Literal, not bound: PostgreSQL must be able to type every union column.
        return literal_column(sql, type_)

    sources = [source for rollup in _ROLLUPS for source in rollup.sources]
    parts = []
    for index, (shape, source) in enumerate(zip(shapes, sources, strict=True)):
        rows = source(mine, dialect).subquery()
        parts.append(
            select(
                constant(str(index)).label("source"),
                rows.c.team_id,
                rows.c[_ROLLUPS[shape.rollup].bucket].label("bucket"),
                (rows.c[shape.text_key] if shape.text_key else constant("''", String)).label(
                    "text_key"
                ),
                (rows.c[shape.int_key] if shape.int_key else constant("0")).label("int_key"),
                *(rows.c[name] for name in shape.sums),
                *(constant("0").label(f"pad_{i}") for i in range(len(shape.sums), width)),
            )
        )
    return union_all(*parts)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


# --- writing a difference -------------------------------------------------------------


def _apply(connection: Connection, difference: Figures) -> None:
    """Add the difference to the rollup rows, then delete the rows it brought to
    nothing (a full recomputation has no rows of zeros). Table by table, in key
    order: concurrent settlements take row locks in one order."""
    dialect = connection.dialect.name
    changed: dict[int, list[tuple[Key, list[int]]]] = defaultdict(list)
    for (index, key), sums in difference.items():
        if any(sums):
            changed[index].append((key, sums))
    for index in sorted(changed):
        model = _ROLLUPS[index].model
        keys = _unique_key(model)
        sums_of = _sums(dialect, index)
        params = [
            {**dict(zip(keys, key, strict=True)), **dict(zip(sums_of, sums, strict=True))}
            for key, sums in sorted(changed[index])
        ]
        emptied = [
            row.id for row in connection.execute(_upsert(dialect, index), params) if row.empty
        ]
        if emptied:
            connection.execute(delete(model).where(model.id.in_(emptied)))


def _sums(dialect: str, index: int) -> tuple[str, ...]:
    return next(shape.sums for shape in _shapes(dialect) if shape.rollup == index)


@cache
def _upsert(dialect: str, index: int) -> Any:
    """INSERT the difference as a new row, or add it to the row already there."""
    model = _ROLLUPS[index].model
    table = model.__table__
    sums = _sums(dialect, index)
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(model)
    return statement.on_conflict_do_update(
        index_elements=_unique_key(model),
        set_={name: table.c[name] + statement.excluded[name] for name in sums},
    ).returning(table.c.id, and_(*(table.c[name] == 0 for name in sums)).label("empty"))


# --- the full recomputation -------------------------------------------------------------


def rebuild(connection: Connection) -> None:
    """Replace every rollup row with what the requests say now. On PostgreSQL the
    rollup tables are locked first: a transaction settling meanwhile waits, then
    adds its difference to the rebuilt rows, which did not count it yet."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        names = ", ".join(rollup.model.__tablename__ for rollup in _ROLLUPS)
        connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    for rollup in _ROLLUPS:
        connection.execute(delete(rollup.model))
        for source in rollup.sources:
            rows = source(true(), dialect)
            columns = [c.name for c in rows.selected_columns]
            connection.execute(insert(rollup.model).from_select(columns, rows))


def _as_date(value: Any) -> date:
    # SQLite may hand back date() as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))
