"""Databases created and dropped on a throwaway PostgreSQL server, for the benches that
need a fresh database per run (`bench.filing`, `bench.slack_ack`).

One admin engine per server, in autocommit (`CREATE DATABASE` refuses a transaction)
and without a pool, so no idle admin connection keeps a dropped database busy.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


class ThrowawayDatabases:
    """`create` a database (empty, or a copy of `template`), `drop` it, `close` at the end."""

    def __init__(self, host: str, port: int, user: str) -> None:
        self.base = f"postgresql+asyncpg://{user}@{host}:{port}"
        self._admin = create_async_engine(
            f"{self.base}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool
        )

    async def _run(self, statement: str) -> None:
        async with self._admin.connect() as connection:
            await connection.execute(text(statement))

    async def create(self, prefix: str, template: str | None = None) -> str:
        """A new database's URL; its name is `prefix` and a random suffix."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        copy = f" TEMPLATE {_name(template)}" if template else ""
        await self._run(f"CREATE DATABASE {name}{copy}")
        return f"{self.base}/{name}"

    async def drop(self, url: str) -> None:
        await self._run(f"DROP DATABASE IF EXISTS {_name(url)} WITH (FORCE)")

    async def close(self) -> None:
        await self._admin.dispose()


def _name(url: str) -> str:
    """The database a URL of `create` names."""
    return url.rsplit("/", 1)[1]
