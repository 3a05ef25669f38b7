"""Fixtures for whole scenarios run through the real `inhouse` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli import EXAMPLE_CATALOG, Inhouse


@pytest.fixture
def inhouse(tmp_path: Path) -> Inhouse:
    """A fresh machine: its own folder, no database yet."""
    return Inhouse(tmp_path)


@pytest.fixture(scope="session")
def example_desk_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the example catalog applied once through `inhouse catalog apply`."""
    machine = Inhouse(tmp_path_factory.mktemp("example-desk"))
    out = machine.ok("catalog", "apply", str(EXAMPLE_CATALOG))
    assert "teams added: it, hr, finance, facilities" in out
    return machine.db


@pytest.fixture
def desk(tmp_path: Path, example_desk_db: Path) -> Inhouse:
    """A machine whose database already holds the example catalog (a private copy)."""
    machine = Inhouse(tmp_path)
    machine.adopt(example_desk_db)
    return machine
