"""What the crash tests share: `inhouse serve` as a process the test may kill or
stop, reading the database it left behind, and waiting for a condition with the
process's log at hand when it never comes."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.e2e.cli import Inhouse

# How long serve may take to end after SIGTERM.
STOP_SECONDS = 15.0


@contextmanager
def serving(
    machine: Inhouse, log: Path, *args: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`inhouse serve ARGS` with these environment variables, its output in `log`;
    killed at the end if the test has not ended it."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            machine.command("serve", *args),
            cwd=machine.workdir,
            env=machine.env(**env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def stopped(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit code, waited for off the event loop: the fake platform
    runs on the test's loop, and a post still on its way at SIGTERM must be answered
    for serve to end (a blocking wait held its answer back until the timeout)."""
    process.terminate()
    return await asyncio.to_thread(process.wait, STOP_SECONDS)


def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    sync = database_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    engine = create_engine(sync)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


async def until(what: str, check: Callable[[], bool], limit: float, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {limit}s; log:\n{log()}")
        await asyncio.sleep(0.05)
