"""INHOUSE_SECRET_KEY as an operator meets it: `inhouse secrets ...`, and a serve that
refuses to keep Slack tokens without a key. Real processes, real environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.e2e.cli import Inhouse, describe, flat
from tests.e2e.test_serve import serving
from tests.ports import free_port

OAUTH = {
    "SLACK_SIGNING_SECRET": "signing-secret",
    "SLACK_CLIENT_ID": "111.222",
    "SLACK_CLIENT_SECRET": "client-secret",
    # Never reached: nothing is installed, so the desk calls no Slack method.
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
}


def oauth_machine(tmp_path: Path, **env: str) -> Inhouse:
    return Inhouse(tmp_path, {**OAUTH, "PORT": str(free_port()), **env})


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_oauth_mode_refuses_to_start_without_a_key(tmp_path: Path, command: str) -> None:
    machine = oauth_machine(tmp_path)
    result = machine.run(command, timeout=30)
    assert result.returncode == 2, describe(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, describe(result)  # one line, not a traceback
    assert "ERROR" in lines[0]
    assert "Set INHOUSE_SECRET_KEY" in lines[0]
    assert "`inhouse secrets new-key`" in lines[0]
    # Refused before touching anything: no database was made or migrated.
    assert not machine.db.exists()


def test_a_malformed_key_is_named_never_shown_and_no_traceback(tmp_path: Path) -> None:
    good = Fernet.generate_key().decode()
    machine = oauth_machine(tmp_path, INHOUSE_SECRET_KEY=f"{good},not-a-real-key")
    for command in (("serve",), ("secrets", "rotate")):
        result = machine.run(*command, timeout=30)
        assert result.returncode == 2, describe(result)
        said = flat(result.stdout + result.stderr)
        assert "INHOUSE_SECRET_KEY: key 2 of 2 is not a Fernet key" in said, said
        assert "inhouse secrets new-key" in said
        assert "Traceback" not in said
        assert good not in said and "not-a-real-key" not in said


def test_new_key_prints_a_fresh_key_each_time(inhouse: Inhouse) -> None:
    first = inhouse.ok("secrets", "new-key").strip()
    second = inhouse.ok("secrets", "new-key").strip()
    assert first != second
    for key in (first, second):
        assert "\n" not in key
        Fernet(key.encode())  # a usable Fernet key


def test_rotate_without_a_key_says_what_to_set(inhouse: Inhouse) -> None:
    result = inhouse.run("secrets", "rotate")
    assert result.returncode == 2, describe(result)
    said = flat(result.stdout)
    assert "Set INHOUSE_SECRET_KEY to a Fernet key" in said, said
    assert "(make one with `inhouse secrets new-key`)" in said
    assert "Traceback" not in result.stdout + result.stderr


def test_oauth_mode_with_a_key_serves_and_waits_for_an_install(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    machine = oauth_machine(tmp_path, INHOUSE_SECRET_KEY=key)
    with serving(machine, "--no-scheduler") as server:
        assert "channel slack: listening" in server.log, server.log
        # Nothing installed yet, so nothing to deliver to: notices wait for Slack
        # rather than being written to the log.
        assert "channel console: on" not in server.log
        assert server.stop() == 0
    assert key not in server.log
    assert "ERROR" not in server.log and "Traceback" not in server.log
