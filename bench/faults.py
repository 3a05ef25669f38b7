"""Nothing acknowledged is lost, nothing is posted twice? The fault suite of issue 13.

    .venv/bin/python -m bench.faults --quick                        # every scenario once, short
    .venv/bin/python -m bench.faults --runs 10 --database both      # the issue's 10 runs
    .venv/bin/python -m bench.faults --scenario kill9 --database sqlite
    .venv/bin/python -m bench.faults --scenario slack-503-10m       # the 10-minute outage

Real `inhouse serve` processes (SQLite: one; PostgreSQL: one or three replicas on
a throwaway server), the fake Slack in this process on 127.0.0.1, a stream of
signed `/request` quick-files at 10 a second, and the scenario's faults (see
tests/faults/scenarios.py). After each run: what people saw on Slack and what the
database holds, counted per command, request and rung, and the issue's targets,
PASS or FAIL. Then a summary over the runs: median (min–max).

Exit status 0 when every run completed (even if a target FAILs), 1 on a crash.
See bench/README.md, "Fault suite".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

from tests.faults.count import Figures
from tests.faults.harness import Scenario, own_postgres, run_once
from tests.faults.report import describe, summary
from tests.faults.scenarios import DEFAULT, LONG, SCENARIOS
from tests.postgres_server import PostgresServer, pg_bin


def _machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def selected(args: argparse.Namespace) -> list[Scenario]:
    names = args.scenario or [*DEFAULT, *([] if args.quick else LONG)]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario {', '.join(unknown)}; one of {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in names]


async def run(args: argparse.Namespace) -> None:
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    plan = [
        (scenario, database)
        for scenario in selected(args)
        for database in databases
        if database in scenario.databases
    ]
    print(_machine())
    print(
        f"{'quick' if args.quick else 'full'} runs: {args.runs} of each of "
        + ", ".join(f"{s.name}/{d}" for s, d in plan)
    )
    root = Path(tempfile.mkdtemp(prefix="inhouse-faults-"))
    results: dict[tuple[str, str], list[Figures]] = {}
    with ExitStack() as stack:
        pg: PostgresServer | None = None
        if any(d == "postgresql" for _s, d in plan):
            pg = stack.enter_context(own_postgres())
            print(
                f"PostgreSQL: {pg_bin('postgres')} on 127.0.0.1:{pg.port} "
                "(synchronous_commit on, fsync off)"
            )
        try:
            for scenario, database in plan:
                for number in range(1, args.runs + 1):
                    figures = await run_once(
                        scenario,
                        database,
                        root / f"{scenario.name}-{database}-{number}",
                        quick=args.quick,
                        number=number,
                        pg=pg if database == "postgresql" else None,
                    )
                    results.setdefault((scenario.name, database), []).append(figures)
                    print(describe(figures, scenario, args.runs), flush=True)
        finally:
            if results:
                print(summary(results))
            print(f"\n{_machine()}")
            if args.keep:
                print(f"kept: {root} (each run's folder: the serve logs, the SQLite file)")
            else:
                shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Inhouse fault suite: kills, restarts, database and Slack outages"
    )
    parser.add_argument("--quick", action="store_true", help="shorter streams, no 10-min outage")
    parser.add_argument("--runs", type=int, default=1, help="runs of each scenario (default 1)")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders and logs")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    started = time.monotonic()
    try:
        asyncio.run(run(args))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    print(f"bench.faults took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
