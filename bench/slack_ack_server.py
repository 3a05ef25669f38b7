"""The server under test for `bench.slack_ack`, run in its own process.

    python -m bench.slack_ack_server {ours,bare} --workdir DIR --slack-api-url URL
                                     [--dispatch-interval S] [--database-url URL]
                                     [--lock-timing]

* ``ours``: the real Inhouse app (`app.build_runtime`) on a freshly migrated SQLite
  file in DIR (or the empty PostgreSQL database given by ``--database-url``), the
  example catalog with team ``it`` announcing in ``C0ITDESK``, its Web API calls
  landing on the FakeSlack at ``--slack-api-url`` (run by the load generator, as
  Slack runs elsewhere), and the outbox dispatcher running on the scheduler as in
  ``inhouse serve``; its quick-files answer at response_urls the load generator
  serves too.
* ``bare``: a slack_bolt ``AsyncApp`` with the same signing secret whose
  ``/request`` listener only acknowledges, behind the same aiohttp adapter.

Both listen on 127.0.0.1 on a free port (bare: ``--port`` if given) and print one JSON line
``{"ready": true, "port": N}`` on stdout once they accept requests. ``GET
/bench/stats`` reports the Bolt listeners at work and (ours) the inbox and outbox
backlog.
On SIGTERM the server stops, and ``ours`` writes the same figures to
``DIR/stats.json`` after the scheduler has stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

SECRET = "bench-signing-secret"
TEAM_CHANNEL = "C0ITDESK"
# Requesters: people of the example catalog with a Slack id, a time zone and a
# language, so the desk knows them without asking Slack (users.info) at all.
USERS = {
    "U0LUCA": ("luca@example.com", "Luca Rossi", "Europe/Rome"),
    "U0ERIK": ("erik@example.com", "Erik Lund", "Europe/Stockholm"),
    "U0FIONA": ("fiona@example.com", "Fiona Brandt", "Europe/Berlin"),
    "U0DANA": ("dana@example.com", "Dana Weber", "Europe/Berlin"),
}
OTHER_USERS = {"U0BOB": ("bob@example.com", "Bob Schulz", "Europe/Berlin")}
SOURCE_CHANNEL = "C0GENERAL"
BOT_TOKEN = "xoxb-test"  # what tests.fakes.slack_api.FakeSlack accepts
KEY = re.compile(r"\bIT-\d+\b")

log = logging.getLogger("bench.server")


def bench_catalog_text() -> str:
    """The bundled example catalog, with team `it` announcing in C0ITDESK."""
    import yaml

    from app import EXAMPLE_CATALOG

    data = yaml.safe_load(EXAMPLE_CATALOG.read_text(encoding="utf-8"))
    for team in data["teams"]:
        if team["key"] == "it":
            team["slack_channel"] = TEAM_CHANNEL
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def fake_workspace(fake: Any) -> None:
    for user_id, (email, name, tz) in {**USERS, **OTHER_USERS}.items():
        fake.add_user(user_id, email=email, real_name=name, name=name, tz=tz)
    for channel in (TEAM_CHANNEL, SOURCE_CHANNEL):
        fake.add_channel(channel)


def channel_stats(fake: Any) -> dict[str, Any]:
    """Top-level messages in the team channel, and how often each key was posted."""
    top = [m for m in fake.messages.get(TEAM_CHANNEL, []) if m.thread_ts in (None, m.ts)]
    keys: Counter[str] = Counter()
    unkeyed = 0
    for message in top:
        found = KEY.search(message.text or "")
        if found:
            keys[found.group(0)] += 1
        else:
            unkeyed += 1
    return {
        "channel_top_messages": len(top),
        "channel_keys": dict(keys),
        "channel_unkeyed": unkeyed,
        "post_message_calls": len(fake.calls_to("chat.postMessage")),
        "api_calls": len(fake.calls),
        "api_errors": sum(1 for c in fake.calls if not c.ok),
    }


async def _wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def _announce(runner: Any) -> None:
    port = runner.addresses[0][1]
    sys.stdout.write(json.dumps({"ready": True, "port": port}) + "\n")
    sys.stdout.flush()


# --- ours ---------------------------------------------------------------------------


class DispatchLog:
    """Wraps Runtime.dispatch to count runs, deliveries and the time spent."""

    def __init__(self, dispatch: Any) -> None:
        self._dispatch = dispatch
        self.runs = 0
        self.delivered = 0
        self.busy_seconds = 0.0
        self.longest_seconds = 0.0
        # The latest runs: (start as time.time(), seconds, notices delivered).
        self.recent: deque[tuple[float, float, int]] = deque(maxlen=200)

    async def __call__(self) -> Any:
        wall, started = time.time(), time.perf_counter()
        delivered = 0
        try:
            report = await self._dispatch()
            delivered = report.delivered
        finally:
            spent = time.perf_counter() - started
            self.runs += 1
            self.busy_seconds += spent
            self.longest_seconds = max(self.longest_seconds, spent)
            self.delivered += delivered
            self.recent.append((round(wall, 3), round(spent, 3), delivered))
        return report

    def figures(self) -> dict[str, Any]:
        return {
            "dispatch_runs": self.runs,
            "dispatch_delivered": self.delivered,
            "dispatch_busy_seconds": round(self.busy_seconds, 3),
            "dispatch_longest_seconds": round(self.longest_seconds, 3),
            "dispatch_recent": list(self.recent),
        }


class LockTiming:
    """Opt-in (`--lock-timing`): how long each BEGIN takes inside aiosqlite's worker
    thread. The app begins every transaction with BEGIN IMMEDIATE, so this is the
    wait for SQLite's write lock, busy-handler sleeps included. Patches aiosqlite's
    `Connection._execute` in this process only; the app itself is unchanged."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def install(self) -> None:
        import aiosqlite.core

        original = aiosqlite.core.Connection._execute
        seconds = self.seconds

        async def _execute(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], str) and args[0].startswith("BEGIN"):
                inner = fn

                def fn(*a: Any, **k: Any) -> Any:
                    started = time.perf_counter()
                    try:
                        return inner(*a, **k)
                    finally:
                        seconds.append(time.perf_counter() - started)

            return await original(connection, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = _execute  # type: ignore[method-assign]

    def figures(self) -> dict[str, Any]:
        return {"begin_seconds": [round(s, 5) for s in self.seconds]}


def listeners_running() -> int:
    """Bolt listener tasks still at work (they go on after Bolt gave up waiting for ack)."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__name__", "") == "run_ack_function_asynchronously"
    )


async def _stored_keys(runtime: Any) -> list[str]:
    from sqlalchemy import text

    async with runtime.engine.connect() as connection:
        return [str(row[0]) for row in await connection.execute(text("SELECT key FROM requests"))]


async def _database(runtime: Any) -> dict[str, int]:
    from sqlalchemy import text

    async with runtime.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT"
                    " SUM(CASE WHEN delivered_at IS NULL AND dead_at IS NULL THEN 1 ELSE 0 END),"
                    " SUM(CASE WHEN dead_at IS NOT NULL THEN 1 ELSE 0 END),"
                    " COUNT(*), (SELECT COUNT(*) FROM requests),"
                    " (SELECT COUNT(*) FROM pending_commands WHERE done_at IS NULL) FROM outbox"
                )
            )
        ).one()
    return {
        "outbox_pending": int(row[0] or 0),
        "outbox_dead": int(row[1] or 0),
        "outbox": int(row[2]),
        "requests": int(row[3]),
        "pending_commands": int(row[4]),
    }


async def apply_bench_catalog(sessions: Any) -> None:
    """The bench catalog (`bench_catalog_text`) applied as `inhouse catalog apply` does."""
    from handlers.catalog_apply import apply_catalog
    from models.catalog import parse_catalog

    async with sessions.begin() as session:
        await apply_catalog(session, parse_catalog(bench_catalog_text(), "bench-catalog.yaml"))


async def ours_runtime(database_url: str, slack_api_url: str) -> Any:
    """The real app (`app.build_runtime`) on a migrated database, with the bench's
    signing secret and bot token and its Web API calls going to `slack_api_url`."""
    from app import build_runtime
    from models.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack_api_url,
    )
    return await build_runtime(settings)


async def serve_ours(
    workdir: Path,
    slack_api_url: str,
    database_url: str,
    dispatch_interval: float,
    lock: LockTiming | None,
) -> None:
    from aiohttp import web

    from app import freeze_startup_heap
    from scheduler.jobs import Jobs

    runtime = await ours_runtime(database_url, slack_api_url)
    await apply_bench_catalog(runtime.sessions)
    dispatch = DispatchLog(runtime.dispatch)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                **dispatch.figures(),
                **await _database(runtime),
                "listeners_running": listeners_running(),
                **(lock.figures() if lock else {}),
            }
        )

    runtime.web.router.add_get("/bench/stats", stats)
    runner = web.AppRunner(runtime.web)  # as `inhouse serve` builds it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    jobs = Jobs(dispatch, dispatch_interval_seconds=dispatch_interval)
    jobs.start()
    # As `inhouse serve`: the pump nudges the loop once a quick-file's answer is queued.
    runtime.nudge = jobs.nudge_dispatch
    freeze_startup_heap()  # as `inhouse serve` does once it is up
    _announce(runner)
    await _wait_for_stop()
    await jobs.stop()
    await runner.cleanup()
    final = {
        **dispatch.figures(),
        **await _database(runtime),
        "listeners_running": listeners_running(),
        "stored_keys": await _stored_keys(runtime),
    }
    (workdir / "stats.json").write_text(json.dumps(final), encoding="utf-8")
    await runtime.close()


# --- bare Bolt ----------------------------------------------------------------------


async def serve_bare(workdir: Path, slack_api_url: str, port: int = 0) -> None:
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url)
    bolt = AsyncApp(token=BOT_TOKEN, signing_secret=SECRET, client=client)

    @bolt.command("/request")
    async def request_command(ack: AsyncAck) -> None:
        await ack()

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"listeners_running": listeners_running()})

    async def healthz(_: web.Request) -> web.Response:
        # What bench.startup polls, as it polls ours' GET /healthz.
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/bench/stats", stats)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    _announce(runner)
    await _wait_for_stop()
    await runner.cleanup()
    (workdir / "stats.json").write_text(json.dumps({}), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["ours", "bare"])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--slack-api-url", required=True, help="the FakeSlack's Web API URL")
    parser.add_argument("--dispatch-interval", type=float, default=2.0)
    parser.add_argument("--database-url", help="ours: an empty database (default: SQLite in DIR)")
    parser.add_argument("--lock-timing", action="store_true", help="see LockTiming")
    parser.add_argument("--port", type=int, default=0, help="bare: listen here (default: free)")
    args = parser.parse_args(argv)
    # Same log set-up for both servers: warnings only, so no access log line per request.
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.kind == "ours":
        from app import run_migrations

        url = args.database_url or f"sqlite+aiosqlite:///{args.workdir / 'inhouse.db'}"
        run_migrations(url)
        lock = LockTiming() if args.lock_timing and url.startswith("sqlite") else None
        if lock:
            lock.install()
        asyncio.run(serve_ours(args.workdir, args.slack_api_url, url, args.dispatch_interval, lock))
    else:
        asyncio.run(serve_bare(args.workdir, args.slack_api_url, args.port))


if __name__ == "__main__":
    main()
