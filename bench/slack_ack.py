"""How fast does Inhouse acknowledge `/request it ...`, next to a bare Bolt app?

    .venv/bin/python -m bench.slack_ack                        # 15 s paced, 5 s saturated, 3 times
    .venv/bin/python -m bench.slack_ack --quick                # 3 s paced, 1 s saturated, 3 times
    .venv/bin/python -m bench.slack_ack --database postgresql  # ours on a throwaway PostgreSQL

Two servers are measured one after the other in the same run, each in its own
subprocess (`bench.slack_ack_server`) on a free 127.0.0.1 port, with this
process as the load generator and as Slack (a fake Web API, the response_urls):

* ours: the real app on a fresh database, its outbox dispatcher running;
* bare Bolt: an AsyncApp whose `/request` listener only calls `ack()`.

Both get the same signed quick-file slash commands, (a) paced at a steady rate
(open loop: latency counts from each request's scheduled send time, so queueing
counts) and (b) saturated by a fixed number of connections (closed loop). Ours
acknowledges once the command is stored and files it afterwards; the bench waits
until it has, then checks that every acknowledged request was answered with its
key once, is stored, and reached the team channel exactly once. See
bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.slack_ack_load import UNLOADED, Load, Measured, Phase, ResponseUrls, Server
from bench.slack_ack_report import Figures, report, summary
from bench.slack_ack_server import USERS, fake_workspace
from bench.throwaway_postgres import ThrowawayDatabases
from tests import postgres_server
from tests.fakes.slack_api import FakeSlack

# --- one server, all phases ------------------------------------------------------------

# The longest the bench waits for a backlog to drain, however steadily it moves.
DRAIN_CAP = 900.0


async def settle(
    server: Server, http: aiohttp.ClientSession, limit: float
) -> tuple[float | None, dict[str, Any]]:
    """Wait until the server is quiet: no Bolt listener still at work and (ours) no
    quick-file waiting in its inbox, no notice left in the outbox and no new request
    row for half a second. A backlog takes as long as it takes: this gives up only
    when nothing moved for `limit` seconds (or after DRAIN_CAP). Returns the seconds
    it took (None if it gave up) and the last figures."""
    loop = asyncio.get_running_loop()
    start = last_move = loop.time()
    previous: tuple[int, int, int] | None = None
    while True:
        stats = await server.stats(http)
        backlog = (
            stats.get("requests", 0),
            stats.get("pending_commands", 0),
            stats.get("outbox_pending", 0),
        )
        if stats["listeners_running"] == 0 and backlog[1:] == (0, 0) and backlog == previous:
            return loop.time() - start, stats
        if backlog != previous:
            last_move = loop.time()
        if loop.time() - last_move >= limit or loop.time() - start >= DRAIN_CAP:
            return None, stats
        previous = backlog
        await asyncio.sleep(0.5)


async def phase(
    name: str, server: Server, http: aiohttp.ClientSession, run: Any, settle_limit: float
) -> Phase:
    begins = len((await server.stats(http)).get("begin_seconds", []))
    cpu, gen_cpu = server.cpu_seconds(), time.process_time()
    # The load generator is the measuring instrument: a full collection of its own
    # heap (the outcomes and tasks of thousands of requests) stalled its loop for
    # up to 50 ms mid-phase, and the requests due then counted it as the server's
    # latency. Collected before the phase, not during it.
    gc.collect()
    gc.disable()
    try:
        outcomes, elapsed = await run
    finally:
        gc.enable()
    phase = Phase(
        name,
        outcomes,
        elapsed,
        server.cpu_seconds() - cpu,
        time.process_time() - gen_cpu,
    )
    stats = await server.stats(http)
    if "begin_seconds" in stats:
        phase.begin_seconds = stats["begin_seconds"][begins:]
    phase.listeners_after = stats["listeners_running"]
    phase.outbox_after = stats.get("outbox_pending")
    phase.commands_after = stats.get("pending_commands")
    phase.settled_in, phase.left_over = await settle(server, http, settle_limit)
    phase.settle_limit = settle_limit
    return phase


async def measure(
    server: Server, args: argparse.Namespace, run_id: str, database_url: str | None = None
) -> Measured:
    print(f"-- {server.label}: starting its server subprocess ...", flush=True)
    async with FakeSlack() as fake:
        fake_workspace(fake)
        server.fake = fake
        await server.start(fake.url, args.dispatch_interval, args.lock_timing, database_url)
        return await _measure(server, args, run_id)


async def _measure(server: Server, args: argparse.Namespace, run_id: str) -> Measured:
    print(
        f"   pid {server.pid}, http://127.0.0.1:{server.port}, up in {server.started_in:.1f} s",
        flush=True,
    )
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=1000)
    responses = ResponseUrls()
    await responses.start()
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            load = Load(server, http, run_id, responses)
            loop = asyncio.get_running_loop()
            # Warm-up: Bolt's auth.test, the desk's per-user caches, the connection pool.
            warmup = [await load.one(loop.time()) for _ in range(2 * len(USERS))]
            warmup += await asyncio.gather(*(load.one(loop.time()) for _ in range(20)))
            await settle(server, http, args.drain_timeout)
            print(f"   (0) unloaded: {UNLOADED} requests one after the other ...", flush=True)
            unloaded = await phase(
                "unloaded", server, http, load.sequential(UNLOADED), args.settle_timeout
            )
            print(f"   (a) paced {args.rate:g} req/s for {args.seconds:g} s ...", flush=True)
            paced = await phase(
                "paced", server, http, load.paced(args.rate, args.seconds), args.settle_timeout
            )
            print(
                f"   (b) saturated, {args.connections} connections for "
                f"{args.saturated_seconds:g} s ...",
                flush=True,
            )
            saturated = await phase(
                "saturated",
                server,
                http,
                load.saturated(args.connections, args.saturated_seconds),
                args.drain_timeout,
            )
    except BaseException:
        await server.kill()
        print(f"   server log tail:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        await responses.stop()
    await server.stop()
    measured = Measured(server, unloaded, paced, saturated, warmup, responses.answers)
    if load.expect_filed:
        load.confirm(measured.outcomes)
    return measured


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:8]
    print("Inhouse /request acknowledgement benchmark (bench.slack_ack)")
    print(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, stock asyncio event loop, aiohttp "
        f"{aiohttp.__version__}; load average before the run "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(
        "processes: each server under test runs alone in ONE separate subprocess; the load "
        f"generator is this process (pid {os.getpid()}), which also plays Slack (the fake "
        "Web API and the response_urls)"
    )
    print(
        f"load: signed `/request it <unique text>` quick-files from {len(USERS)} users; "
        f"(a) {args.rate:g} req/s paced for {args.seconds:g} s, (b) {args.connections} "
        f"connections saturating for {args.saturated_seconds:g} s; ours' outbox dispatched every "
        f"{args.dispatch_interval:g} s as in `inhouse serve`"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-slack-ack-"))
    database: ThrowawayDatabases | None = None
    pg_server: postgres_server.PostgresServer | None = None
    try:
        if args.database == "postgresql":
            pg_server = postgres_server.start()
            database = ThrowawayDatabases(pg_server.host, pg_server.port, pg_server.user)
            print(
                f"ours' database: a throwaway PostgreSQL on port {pg_server.port} "
                "(fsync off), an empty database for each repeat"
            )
        else:
            print("ours' database: a fresh SQLite file (the embedded default)")
        figures: list[Figures] = []
        for repeat in range(args.repeats):
            print(
                f"== repeat {repeat + 1}/{args.repeats} (load average "
                + " ".join(f"{x:.2f}" for x in os.getloadavg())
                + ")",
                flush=True,
            )
            # Interleaved, and who goes first alternates: drift in the machine's
            # load falls on both sides.
            label = f"{run_id}-{repeat}"
            order = ("bare", "ours") if repeat % 2 == 0 else ("ours", "bare")
            measured: dict[str, Measured] = {}
            for side in order:
                workdir = tmp / f"{side}-{repeat}"
                if side == "bare":
                    server = Server("bare", "bare Bolt", workdir)
                    measured[side] = await measure(server, args, label)
                else:
                    server = Server("ours", "ours", workdir)
                    fresh = await database.create("ack") if database is not None else None
                    measured[side] = await measure(server, args, label, fresh)
            figures.append(report(args, measured["bare"], measured["ours"], started))
        summary(args, figures, started)
    finally:
        if database is not None:
            await database.close()
        if pg_server is not None:
            pg_server.stop()
        if args.keep:
            print(f"kept: {tmp} (server.log, inhouse.db and stats.json of each server)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Inhouse /request ack latency vs bare Bolt")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s per load phase")
    parser.add_argument("--seconds", type=float, help="length of the paced phase (default 15)")
    parser.add_argument(
        "--saturated-seconds",
        type=float,
        help="length of the saturated phase (default 5: ours files what it acknowledged "
        "afterwards, ~25 per second, and the bench waits for that)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats, bare and ours interleaved (default 3)"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="paced requests per second")
    parser.add_argument("--connections", type=int, default=50, help="saturating connections")
    parser.add_argument(
        "--dispatch-interval", type=float, default=2.0, help="outbox dispatch interval (serve: 2)"
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        help="between phases: stop waiting for quiet after this long without progress "
        "(default 60, --quick 30)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        help="after the last phase: the same, for the final drain (default 60, --quick 30)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, database)"
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="ours' database: SQLite (the embedded default) or a throwaway PostgreSQL",
    )
    parser.add_argument(
        "--lock-timing",
        action="store_true",
        help="diagnostic: time each BEGIN IMMEDIATE in ours (the wait for SQLite's write lock)",
    )
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 15.0
    if args.saturated_seconds is None:
        args.saturated_seconds = 1.0 if args.quick else 5.0
    if args.settle_timeout is None:
        args.settle_timeout = 30.0 if args.quick else 60.0
    if args.drain_timeout is None:
        args.drain_timeout = 30.0 if args.quick else 60.0
    # A target that is missed is a measurement, not an error: exit 0. A crash exits 1.
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
