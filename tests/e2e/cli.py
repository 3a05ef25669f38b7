"""Running `inhouse` the way a person does: a real process, its own folder and database.

Every run gets a clean environment: no platform credentials, no `DATABASE_URL`
from the outside, and its working directory is the test's temp dir, so relative
defaults (`./inhouse.db`, `./inhouse-demo.db`, `.env`) can never touch the repo.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
EXAMPLE_CATALOG = ROOT / "models" / "catalogs" / "example.yaml"

# Settings the app reads from the environment; none may leak in from the caller's shell.
_FOREIGN_PREFIXES = ("SLACK_", "MICROSOFT_", "INHOUSE_")
_FOREIGN_NAMES = {"DATABASE_URL", "PORT", "LOG_FORMAT", "SWEEP_INTERVAL_SECONDS"}


def flat(text: str) -> str:
    """Text with every run of whitespace made one space.

    Piped output is 120 columns wide and rich wraps longer lines, so a sentence
    may be split over two lines; what a reader sees is still the same sentence.
    """
    return " ".join(text.split())


@dataclass
class Inhouse:
    """One user's machine: a folder, a SQLite file, and the `inhouse` command."""

    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.workdir / "x.db"

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _FOREIGN_NAMES and not k.startswith(_FOREIGN_PREFIXES)
        }
        # The terminal language decides what the console speaks: these tests read English
        # (a terminal that says nothing specific, C, would speak each person's language).
        env = {k: v for k, v in env.items() if not k.startswith("LC_")}
        env.update(
            DATABASE_URL=self.url, PYTHONUTF8="1", PYTHONIOENCODING="utf-8", LANG="en_US.UTF-8"
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(APP), *args]

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=cwd or self.workdir,
            env=self.env(),
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, input: str | None = None, cwd: Path | None = None) -> str:
        """Run a command that must succeed; its standard output."""
        result = self.run(*args, input=input, cwd=cwd)
        assert result.returncode == 0, describe(result)
        assert "Traceback" not in result.stdout + result.stderr, describe(result)
        return result.stdout

    def chat(self, email: str, *lines: str) -> str:
        """A chat session: type each line, then `quit`; everything the person saw."""
        typed = "\n".join([*lines, "quit"]) + "\n"
        return self.ok("chat", "--as", email, input=typed)

    def adopt(self, database: Path) -> None:
        """Start from a copy of a prepared database (the file and any WAL beside it)."""
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{database}{suffix}")
            if source.exists():
                shutil.copy(source, Path(f"{self.db}{suffix}"))

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Look into the database file directly, as an admin with sqlite3 would."""
        connection = sqlite3.connect(self.db)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"`{' '.join(result.args[1:])}` exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
