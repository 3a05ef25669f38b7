"""What `inhouse serve` does with the schema it finds at start (issue 14): nothing
when it is current, an upgrade when it is behind, a refusal when it is ahead."""

from __future__ import annotations

import sqlite3

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from app import MIGRATIONS, SCHEMA_HEAD
from tests.e2e.cli import Inhouse, describe
from tests.e2e.test_serve import serving


def schema_cookie(machine: Inhouse) -> int:
    """SQLite's schema version: every CREATE, ALTER or DROP changes it."""
    connection = sqlite3.connect(machine.db)
    try:
        return int(connection.execute("PRAGMA schema_version").fetchone()[0])
    finally:
        connection.close()


def test_serve_on_a_current_schema_runs_no_migration(desk: Inhouse) -> None:
    cookie = schema_cookie(desk)
    with serving(desk, "--no-scheduler") as server:
        assert f"database schema: at {SCHEMA_HEAD}, nothing to migrate" in server.log
        assert server.stop() == 0
    # Alembic was not even imported (it logs its plugins as it loads), no DDL ran,
    # and the version row is the one `catalog apply` left.
    assert "alembic" not in server.log, server.log
    assert schema_cookie(desk) == cookie
    assert desk.query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]


def test_serve_upgrades_a_schema_that_is_behind(desk: Inhouse) -> None:
    # A desk as the Inhouse before the latest migration left it.
    previous = previous_revision()
    engine = create_engine(f"sqlite:///{desk.db}")
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.downgrade(config, previous)
    finally:
        engine.dispose()
    assert desk.query("SELECT version_num FROM alembic_version") == [(previous,)]

    with serving(desk, "--no-scheduler") as server:
        assert server.stop() == 0
    assert f"database schema: at {previous}, upgrading to {SCHEMA_HEAD}" in server.log
    assert f"Running upgrade {previous} -> {SCHEMA_HEAD}" in server.log
    assert desk.query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    assert desk.query("SELECT count(*) FROM teams") == [(4,)]
    assert "Traceback" not in server.log


def test_a_database_ahead_of_the_code_is_refused_not_downgraded(desk: Inhouse) -> None:
    connection = sqlite3.connect(desk.db)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    connection.close()
    cookie = schema_cookie(desk)

    result = desk.run("serve", timeout=60)

    assert result.returncode == 2, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    assert (
        "The database is at schema revision 9999_from_the_future, which this version of "
        "Inhouse does not know: a newer version has migrated it." in result.stderr
    ), describe(result)
    assert desk.query("SELECT version_num FROM alembic_version") == [("9999_from_the_future",)]
    assert schema_cookie(desk) == cookie
    assert desk.query("SELECT count(*) FROM teams") == [(4,)]  # the data is all there


def previous_revision() -> str:
    """The revision before the migrations' head, read from the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_revision("head")
    assert head is not None and head.revision == SCHEMA_HEAD
    assert isinstance(head.down_revision, str)
    return head.down_revision
