"""SQLite's one write lock, as the desk's engine takes and gives it back (app.build_engine):
taken when a transaction begins, before it reads; given back when the transaction
ends, and when a connection comes back to the pool still inside one. Another process
(here a plain sqlite3 connection that does not wait) sees which."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from app import build_engine


def other_process_can_write(path: Path) -> bool:
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO notes (body) VALUES ('other')")
        other.execute("COMMIT")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        other.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "lock.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    return path


async def test_a_transaction_holds_the_write_lock_from_its_first_read(path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as connection:
            # Only a read so far: the lock is held all the same, so nobody can
            # change what this transaction read before it writes.
            assert await connection.scalar(text("SELECT count(*) FROM notes")) == 0
            assert not other_process_can_write(path)
            await connection.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
        assert other_process_can_write(path)
        async with engine.connect() as connection:
            bodies = (await connection.scalars(text("SELECT body FROM notes ORDER BY id"))).all()
        assert bodies == ["ours", "other"]
    finally:
        await engine.dispose()


async def test_a_connection_handed_back_inside_a_transaction_lets_go_of_the_lock(
    path: Path,
) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{path}")
    try:
        # A caller that fails half-way and never ends its transaction: the pool's
        # reset has to undo it, or the write lock stays with this process.
        async with engine.connect() as connection:
            pooled = await connection.get_raw_connection()
            await pooled.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            assert not other_process_can_write(path)
        assert other_process_can_write(path)
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('next')"))
        assert other_process_can_write(path)
    finally:
        await engine.dispose()
