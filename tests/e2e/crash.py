"""What the crash tests share: reading the database a killed process left behind,
and waiting for a condition with the process's log at hand when it never comes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, text


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
