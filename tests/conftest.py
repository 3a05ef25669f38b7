"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import MIGRATIONS, build_engine, build_sessions
from tests import postgres_server
from tests.ports import free_port


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the tests marked slow (the longer fault scenarios)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The default run stays within CI's budget; `pytest --slow` runs everything.
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (or python -m bench.faults)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
def pg_server() -> Iterator[postgres_server.PostgresServer]:
    server = postgres_server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: postgres_server.PostgresServer) -> Iterator[str]:
    """A template database with the schema migrated once; tests clone it."""
    janitor = DatabaseJanitor(
        user=pg_server.user,
        host=pg_server.host,
        port=pg_server.port,
        dbname="inhouse_template",
        as_template=True,
    )
    with janitor:
        janitor.load(
            lambda host, port, user, dbname, password, **_: migrate_with(
                f"postgresql+psycopg://{user}@{host}:{port}/{dbname}"
            )
        )
        yield "inhouse_template"


@pytest.fixture
def postgresql_url(pg_server: postgres_server.PostgresServer, pg_template: str) -> Iterator[str]:
    """A fresh database per test, cloned from the migrated template."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=pg_server.user,
        host=pg_server.host,
        port=pg_server.port,
        dbname=name,
        template_dbname=pg_template,
    )
    with janitor:
        yield f"postgresql+asyncpg://{pg_server.user}@{pg_server.host}:{pg_server.port}/{name}"


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
    return str(request.getfixturevalue("postgresql_url"))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    try:
        yield build_sessions(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def unused_tcp_port() -> int:
    """pytest-asyncio's port comes from the kernel's ephemeral range, which a fake
    started later may be given again; ours never is (tests/ports.py)."""
    return free_port()
