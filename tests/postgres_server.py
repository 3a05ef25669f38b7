"""A throwaway PostgreSQL server for the test session, from the machine's own binaries.

`initdb` refuses to run as root, and CI runs as root: the cluster is then created
and started as the `postgres` system user, in a temp dir on a free port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path
    # Commits survive a crash of the server (synchronous_commit on): what a scenario
    # that stops PostgreSQL as a crash does needs. Off by default, for speed.
    durable: bool = False

    def stop(self) -> None:
        _run(["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server as a crash would (immediate: no checkpoint, every
        connection cut), keeping its data for `resume`."""
        _run(["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])

    def resume(self) -> None:
        """Start a halted server again, on the same port with the same data."""
        _start(self.data_dir, self.port, durable=self.durable)


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install -y postgresql)")
    return candidates[-1]


def _as_postgres() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _run(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [*_as_postgres(), pg_bin(args[0]), *args[1:]]
    return subprocess.run(command, check=check, capture_output=True, text=True)


def start(*, durable: bool = False) -> PostgresServer:
    """`durable`: a commit is flushed to the WAL before it returns, so stopping the
    server as a crash does (`halt`) loses nothing committed. fsync stays off either
    way: the machine itself does not crash, its page cache survives."""
    root = Path(tempfile.mkdtemp(prefix="inhouse-pg-"))
    data_dir = root / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    os.chmod(root, 0o755)
    _run(
        [
            "initdb",
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]
    )
    port = free_port()
    _start(data_dir, port, durable=durable)
    return PostgresServer(
        host="127.0.0.1", port=port, user="postgres", data_dir=data_dir, durable=durable
    )


def _start(data_dir: Path, port: int, *, durable: bool) -> None:
    root = data_dir.parent
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        f"-c synchronous_commit={'on' if durable else 'off'} -c full_page_writes=off "
        "-c max_connections=200"
    )
    result = _run(
        [
            "pg_ctl",
            "-D",
            str(data_dir),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=False,
    )
    if result.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")
