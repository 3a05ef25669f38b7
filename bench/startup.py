"""How fast does `inhouse serve` start, and how much memory does it hold idle, next
to a bare Bolt app served by aiohttp?

    .venv/bin/python -m bench.startup                      # 5 repeats, SQLite and PostgreSQL
    .venv/bin/python -m bench.startup --repeats 3 --idle 3 # quicker
    .venv/bin/python -m bench.startup --database sqlite

A warm-up start of each (not counted) byte-compiles the modules into a private
`PYTHONPYCACHEPREFIX`, as `pip install` does. Then each repeat starts two real
processes with subprocess, one after the other (which one goes first alternates),
each on its own free 127.0.0.1 port:

* ours: `python app.py serve` on a database whose schema is current (migrated once
  before the first repeat, as after `inhouse migrate`), Slack on in signed HTTP
  mode with a fake bot token, Teams off, the scheduler on: what an operator starts;
* bare: `python -m bench.slack_ack_server bare` (the baseline of bench.slack_ack),
  a slack_bolt AsyncApp behind aiohttp with a `GET /healthz` route.

Measured per process: **start-up**, from just before `Popen` to the first HTTP 200
of `GET /healthz` (polled every 10 ms over HTTP); **idle RSS**, VmRSS from
/proc/PID/status after `--idle` seconds without a request; **CPU to start**, the
process's user + system CPU time when it first answered (less moved by other work
on the machine than the wall clock); **first request**, one
signed `/request` slash command sent after that (ours stores it and acknowledges;
bare only acknowledges; Bolt calls `auth.test` first, answered by
tests.fakes.slack_api.FakeSlack running in this process for both): does a lazy
import make the first person wait? Printed:
cores and load average, each run, then median and min-max, with PASS/FAIL against
the targets of issue 14 (start-up < 2 s, idle RSS < 150 MB). Exit status 0 when the
bench completed (even if a target FAILs), 1 when it crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from bench.slack_ack_server import BOT_TOKEN, SECRET, SOURCE_CHANNEL, fake_workspace
from tests import postgres_server
from tests.adapters.slack.driver import SlackDriver
from tests.fakes.slack_api import FakeSlack
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
TARGET_STARTUP_S = 2.0
TARGET_RSS_MB = 150.0
# Nothing listens here: the quick-file's answer (after the acknowledgement) goes nowhere.
NOWHERE = "http://127.0.0.1:9/response"
# What the server must not inherit from the caller's shell.
_FOREIGN = ("SLACK_", "MICROSOFT_", "INHOUSE_", "DATABASE_URL", "PORT", "LOG_FORMAT")


@dataclass
class Run:
    startup_s: float
    cpu_s: float  # the process's CPU time (user + system) when it first answered
    rss_mb: float
    first_request_ms: float


def say(line: str = "") -> None:
    print(line, flush=True)


def _env(pycache: Path, **extra: str) -> dict[str, str]:
    # Modules byte-compiled, as after `pip install` (which compiles what it installs):
    # a machine with PYTHONDONTWRITEBYTECODE=1 and an editable install would compile
    # every module of the checkout from source at each start. The warm-up start
    # writes them to a private prefix.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_FOREIGN) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONPYCACHEPREFIX=str(pycache), **extra)
    return env


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _cpu_s(pid: int) -> float:
    # /proc/PID/stat: utime and stime are the 14th and 15th fields, in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return int(answer.status) == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _first_request_ms(port: int) -> float:
    """One signed quick-file, exactly as Slack posts it; ms to the full answer."""
    driver = SlackDriver(f"http://127.0.0.1:{port}", SECRET, lambda: "1.2.bench", None)
    body = driver.command_body("U0LUCA", "it Printer on fire", SOURCE_CHANNEL, NOWHERE)
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or "",
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"first request: HTTP {answer.status}")
    return (time.perf_counter() - started) * 1000


def measure(command: list[str], env: dict[str, str], port: int, idle: float, log: Path) -> Run:
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    try:
        while not _healthy(port):
            if process.poll() is not None or time.perf_counter() - started > 60:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{command[1:3]} did not become healthy:\n{tail}")
            time.sleep(0.01)
        startup = time.perf_counter() - started
        cpu = _cpu_s(process.pid)
        time.sleep(idle)
        rss = _rss_mb(process.pid)
        first = _first_request_ms(port)
        return Run(startup, cpu, rss, first)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def fake_slack() -> Iterator[str]:
    """FakeSlack's Web API on its own event loop in a thread; yields its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-slack", daemon=True)
    thread.start()
    fake = FakeSlack()
    asyncio.run_coroutine_threadsafe(fake.__aenter__(), loop).result(timeout=30)
    fake_workspace(fake)
    try:
        yield str(fake.url)
    finally:
        asyncio.run_coroutine_threadsafe(fake.__aexit__(None, None, None), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def ours(url: str, slack: str, idle: float, log: Path) -> Run:
    port = free_port()
    env = _env(
        log.parent / "pycache",
        DATABASE_URL=url,
        PORT=str(port),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack,
    )
    return measure([sys.executable, "app.py", "serve"], env, port, idle, log)


def bare(workdir: Path, slack: str, idle: float, log: Path) -> Run:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.slack_ack_server",
        "bare",
        "--workdir",
        str(workdir),
        "--slack-api-url",
        slack,
        "--port",
        str(port),
    ]
    return measure(command, _env(log.parent / "pycache"), port, idle, log)


def _spread(values: list[float], fmt: str) -> str:
    return (
        f"{format(statistics.median(values), fmt)} "
        f"({format(min(values), fmt)}-{format(max(values), fmt)})"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench_database(name: str, url: str, repeats: int, idle: float, tmp: Path) -> None:
    with fake_slack() as slack:
        _bench_database(name, url, slack, repeats, idle, tmp)


def _bench_database(name: str, url: str, slack: str, repeats: int, idle: float, tmp: Path) -> None:
    from app import run_migrations

    say(f"\n== {name} ==")
    run_migrations(url)  # once, as `inhouse migrate` would: every start finds it current
    runs: dict[str, list[Run]] = {"ours": [], "bare": []}
    # Not counted: writes the byte-code, and warms the page cache, for both.
    ours(url, slack, 0, tmp / f"{name}-ours-warm-up.log")
    bare(tmp, slack, 0, tmp / f"{name}-bare-warm-up.log")
    for n in range(repeats):
        order = ["bare", "ours"] if n % 2 == 0 else ["ours", "bare"]
        for kind in order:
            log = tmp / f"{name}-{kind}-{n}.log"
            run = ours(url, slack, idle, log) if kind == "ours" else bare(tmp, slack, idle, log)
            runs[kind].append(run)
            say(
                f"  run {n + 1} {kind:4}: start-up {run.startup_s:.2f} s (CPU {run.cpu_s:.2f} s),"
                f" idle RSS {run.rss_mb:.0f} MB, first request {run.first_request_ms:.0f} ms"
            )
    say(
        f"  {'':4}  {'start-up s':>18}  {'CPU to start s':>18}  {'idle RSS MB':>14}  "
        f"{'first request ms':>16}"
    )
    for kind in ("ours", "bare"):
        got = runs[kind]
        say(
            f"  {kind:4}  {_spread([r.startup_s for r in got], '.2f'):>18}  "
            f"{_spread([r.cpu_s for r in got], '.2f'):>18}  "
            f"{_spread([r.rss_mb for r in got], '.0f'):>14}  "
            f"{_spread([r.first_request_ms for r in got], '.0f'):>16}"
        )
    startup = statistics.median(r.startup_s for r in runs["ours"])
    rss = statistics.median(r.rss_mb for r in runs["ours"])
    base_startup = statistics.median(r.startup_s for r in runs["bare"])
    base_rss = statistics.median(r.rss_mb for r in runs["bare"])
    say(f"  ours / bare: start-up {startup / base_startup:.2f}x, idle RSS {rss / base_rss:.2f}x")
    say(f"  start-up median {startup:.2f} s < {TARGET_STARTUP_S:.0f} s: {_verdict(startup < 2)}")
    say(f"  idle RSS median {rss:.0f} MB < {TARGET_RSS_MB:.0f} MB: {_verdict(rss < 150)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="at least 3 (default 5)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before RSS")
    parser.add_argument("--database", choices=["both", "sqlite", "postgresql"], default="both")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; load average (1, 5, 15 min): {load}"
    )
    say(f"repeats: {args.repeats}, interleaved; idle {args.idle:.0f} s before reading RSS")
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    server = None
    try:
        if args.database in ("both", "sqlite"):
            url = f"sqlite+aiosqlite:///{tmp / 'inhouse.db'}"
            bench_database("SQLite", url, args.repeats, args.idle, tmp)
        if args.database in ("both", "postgresql"):
            server = postgres_server.start()
            url = f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/postgres"
            bench_database("PostgreSQL", url, args.repeats, args.idle, tmp)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\nload average at the end: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
