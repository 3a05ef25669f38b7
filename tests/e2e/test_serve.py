"""`inhouse serve`: the long-running process an operator starts and stops."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cli import Inhouse
from tests.ports import free_port

STARTUP_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 10.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_file: Path

    @property
    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post(self, path: str, body: bytes) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def wait_for(
        self, what: str, check: Callable[[], bool], timeout: float, poll: float = 0.1
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (
                f"serve exited early while waiting for {what}:\n{self.log}"
            )
            try:
                if check():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(poll)
        raise AssertionError(f"no {what} within {timeout}s; log:\n{self.log}")

    def healthy(self) -> bool:
        status, body = self.get("/healthz")
        return status == 200 and json.loads(body) == {"status": "ok"}

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=SHUTDOWN_TIMEOUT)


@contextmanager
def serving(
    machine: Inhouse, *args: str, meanwhile: Callable[[], object] | None = None
) -> Iterator[Server]:
    """`inhouse serve ARGS` on a free port, healthy; `meanwhile` runs as it starts up."""
    port = free_port()
    log_file = machine.workdir / "serve.log"
    with log_file.open("wb") as sink:
        process = subprocess.Popen(
            machine.command("serve", *args),
            cwd=machine.workdir,
            env=machine.env(PORT=str(port)),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log_file)
    try:
        if meanwhile is not None:
            meanwhile()
        server.wait_for("healthy /healthz", server.healthy, STARTUP_TIMEOUT)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def file_a_request(desk: Inhouse) -> None:
    filed = desk.chat("luca@example.com", "/request it Printer on fire")
    assert "Filed IT-1" in filed


# Notices about requests; on the catalog's digest day a weekly digest may be queued
# as the scheduler starts, which is right but not what these tests are about.
UNDELIVERED_REQUEST_NOTICES = (
    "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND request_id IS NOT NULL"
)


def test_serve_answers_health_delivers_notices_and_stops_cleanly(desk: Inhouse) -> None:
    # Luca files from his terminal while the server starts.
    with serving(desk, meanwhile=lambda: file_a_request(desk)) as server:
        status, body = server.get("/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        log = server.log
        assert "channel console: on" in log
        # No platform credentials in the environment: each platform says it is off, and why.
        assert re.search(r"channel slack: off\b.*SLACK_BOT_TOKEN", log), log
        assert re.search(r"channel teams: off \(set MICROSOFT_APP_ID\b.*--teams-local", log), log
        # Without credentials or local mode, the Teams endpoint does not exist.
        assert server.post("/api/messages", b"{}") == 404
        assert f"listening on http://0.0.0.0:{server.port}" in log
        assert "scheduler on" in log
        # The scheduler delivers what the chat queued; with no platform it lands in the log.
        server.wait_for(
            "the IT channel notice in the log",
            lambda: "notice → [#it] IT-1 · Printer on fire · from Luca Rossi" in server.log,
            timeout=10,
        )
        server.wait_for(
            "the delivery to be recorded",
            lambda: desk.query(UNDELIVERED_REQUEST_NOTICES) == [(0,)],
            timeout=10,
        )
        started = time.monotonic()
        code = server.stop()
        assert time.monotonic() - started < 5, "serve took too long to stop"
    assert code == 0, server.log
    assert "shutting down" in server.log

    # The delivery stays recorded after the stop.
    assert desk.query(UNDELIVERED_REQUEST_NOTICES) == [(0,)]


def test_serve_without_scheduler(desk: Inhouse) -> None:
    with serving(desk, "--no-scheduler", meanwhile=lambda: file_a_request(desk)) as server:
        assert "scheduler off (--no-scheduler)" in server.log
        assert "scheduler on" not in server.log
        time.sleep(2.5)  # longer than one dispatch interval of a scheduler that is on
        assert "notice →" not in server.log
        code = server.stop()
    assert code == 0, server.log
    assert "Traceback" not in server.log

    # Nothing was dispatched: the IT channel's notice is still waiting.
    waiting = desk.query("SELECT kind FROM outbox WHERE delivered_at IS NULL")
    assert ("team_card",) in waiting, waiting


def test_stopping_serve_mid_dispatch_loses_no_delivery(desk: Inhouse) -> None:
    desk.chat(
        "luca@example.com",
        *(f"/request it Broken thing number {n}" for n in range(1, 6)),
    )
    with serving(desk) as server:
        server.wait_for("a first notice", lambda: "notice →" in server.log, timeout=10)
        code = server.stop()
    assert code == 0, server.log
    assert "Traceback" not in server.log, server.log
    # The run in flight finished before the process stopped: whatever it showed is
    # recorded as delivered, and no claim is left behind for a restart to wait out.
    shown = server.log.count("notice →")
    delivered = desk.query("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL")
    assert delivered == [(shown,)]
    leased = desk.query("SELECT count(*) FROM outbox WHERE lease_owner IS NOT NULL")
    assert leased == [(0,)]


def test_serve_teams_local_serves_the_playground_and_says_it_is_unauthenticated(
    desk: Inhouse,
) -> None:
    with serving(desk, "--teams-local", "--no-scheduler") as server:
        assert re.search(
            r"WARNING inhouse: channel teams: on in LOCAL MODE.*UNAUTHENTICATED", server.log
        )
        # Served (this is no activity, so 400), from this machine.
        assert server.post("/api/messages", b"{}") == 400
        assert server.stop() == 0
    assert "Traceback" not in server.log
