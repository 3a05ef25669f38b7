"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from pytest_postgresql import factories
from pytest_postgresql.executors.noop import NoopExecutor
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import MIGRATIONS, build_engine, build_sessions
from tests import postgres_server


def migrate_with(sync_url: str) -> None:
    """Run the real migrations on a database (also used as the template loader)."""
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[NoopExecutor]:
    server = postgres_server.start()
    try:
        yield NoopExecutor(host=server.host, port=server.port, user=server.user,
                           options="", dbname="inhouse", password=None)
    finally:
        server.stop()


def _load_schema(host: str, port: int, user: str, dbname: str, password: Any, **_: Any) -> None:
    migrate_with(f"postgresql+psycopg://{user}@{host}:{port}/{dbname}")


pg_noproc = factories.postgresql_noproc(depends_on="pg_server", load=[_load_schema])
postgresql = factories.postgresql("pg_noproc")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "inhouse.db"
    migrate_with(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database: a SQLite file or a PostgreSQL database."""
    if request.param == "sqlite":
        target = tmp_path / "inhouse.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    connection = request.getfixturevalue("postgresql")
    info = connection.info
    return f"postgresql+asyncpg://{info.user}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    try:
        yield build_sessions(engine)
    finally:
        await engine.dispose()
