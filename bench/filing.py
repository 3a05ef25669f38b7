"""How fast does the desk file a burst of quick-files, next to plain inserts of the
same rows, and do the team cards keep up?

    .venv/bin/python -m bench.filing               # burst of 500, 3 repeats, SQLite and PostgreSQL
    .venv/bin/python -m bench.filing --quick       # burst of 50, 3 repeats, both (~1-1.5 min)
    .venv/bin/python -m bench.filing --database sqlite --burst 200 --repeats 5

Per database and repeat, interleaved (fresh database each, see bench.filing_measure):

* ours (HTTP): N distinct signed `/request it <text>` slash commands posted to the
  real app, filed by its command pump: filings/s from the first command to the
  last request committed;
* floor: the same N requests as plain Core inserts (request, audit event, outbox
  row), one transaction each: inserts/s;
* ours (direct): the pump's use case for one command (`attempt_as` + `run_command`
  -> `handlers.filing.file_request`), one transaction per request: filings/s;
* floor again.

After each of ours' bursts the real dispatcher delivers what it queued to a fake
Slack: cards/s. SQL statements are counted on the engine per filing and per
delivered card. Printed: each run, then medians and min-max, the ratio ours / floor
(target >= 1/3), cards/s against filings/s (target >=), statements per filing
(target <= 8) and per card (target <= 4), each PASS/FAIL. Exit status 0 when the
bench completed, even if a target FAILs; 1 when it crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.filing_measure import (
    BURST_CONNECTIONS,
    MEASURE,
    WARMUP,
    Databases,
    Filing,
    PostgresDatabases,
    SqliteDatabases,
)
from tests import postgres_server

REPEATS = 3
BURST = 500
QUICK_BURST = 50
# Per repeat; the floor runs on both sides of the direct filing.
ORDER = ("http", "floor", "direct", "floor")
FLOOR_SHARE_TARGET = 1 / 3
FILING_STATEMENTS_TARGET = 8
CARD_STATEMENTS_TARGET = 4
NAMES = {"http": "ours (HTTP)", "direct": "ours (direct)", "floor": "floor"}


def say(line: str = "") -> None:
    print(line, flush=True)


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def spread(values: Sequence[float], digits: int = 1) -> str:
    """`median (min-max)` of the repeats."""
    if not values:
        return "-"
    median = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


# --- one database ----------------------------------------------------------------------------


Repeat = dict[str, list[Filing]]


def line(filing: Filing) -> str:
    per = filing.counted
    n = max(filing.n, 1)
    text = (
        f"  {NAMES[filing.variant]:<14} {filing.n} in {filing.seconds:.2f} s: "
        f"{filing.per_second:,.1f}/s; per request {per.statements / n:.2f} statements "
        f"({per.savepoints / n:.2f} savepoint), {per.transactions / n:.2f} transactions, "
        f"{per.cpu_seconds / n * 1000:.1f} ms CPU"
    )
    if filing.ack_seconds is not None:
        text += f"; all acknowledged after {filing.ack_seconds:.2f} s"
    delivery = filing.delivery
    if delivery is not None:
        what = f"{delivery.cards} cards"
        if delivery.answers:
            what += f" + {delivery.answers} answers"
        text += (
            f"\n  {'':<14} delivered {what} in {delivery.seconds:.2f} s: "
            f"{delivery.cards_per_second:,.1f} cards/s; "
            f"{delivery.counted.statements / max(delivery.notices, 1):.2f} statements, "
            f"{delivery.counted.transactions / max(delivery.notices, 1):.2f} transactions, "
            f"{delivery.counted.cpu_seconds / max(delivery.notices, 1) * 1000:.1f} ms CPU "
            "per notice"
        )
    for problem in filing.problems:
        text += f"\n  {'':<14} CHECK FAILED: {problem}"
    return text


async def measure(databases: Databases, burst: int, repeats: int) -> list[Repeat]:
    run_id = uuid.uuid4().hex[:8]
    results: list[Repeat] = []
    for repeat in range(repeats):
        say(f" repeat {repeat + 1}/{repeats} (load average {load_average()})")
        runs: Repeat = {}
        for variant in ORDER:
            url = await databases.fresh()
            try:
                filing = await MEASURE[variant](url, burst, f"{run_id}-{repeat}")
            finally:
                await databases.drop(url)
            runs.setdefault(variant, []).append(filing)
            say(line(filing))
        results.append(runs)
    return results


# --- the summary -------------------------------------------------------------------------------


def _floor_rate(runs: Repeat) -> float:
    return statistics.mean(f.per_second for f in runs["floor"])


def _per(
    results: list[Repeat], variant: str, figure: Callable[[Filing], float | None]
) -> list[float]:
    values = [figure(runs[variant][0]) for runs in results]
    return [v for v in values if v is not None]


def _statements(f: Filing) -> float:
    return f.counted.statements / max(f.n, 1)


def _transactions(f: Filing) -> float:
    return f.counted.transactions / max(f.n, 1)


def _cpu(f: Filing) -> float:
    return f.counted.cpu_seconds / max(f.n, 1) * 1000


def _card_cpu(f: Filing) -> float | None:
    return (
        f.delivery.counted.cpu_seconds / max(f.delivery.notices, 1) * 1000 if f.delivery else None
    )


def _cards(f: Filing) -> float | None:
    return f.delivery.cards_per_second if f.delivery else None


def _card_statements(f: Filing) -> float | None:
    return f.delivery.counted.statements / max(f.delivery.notices, 1) if f.delivery else None


def _card_transactions(f: Filing) -> float | None:
    return f.delivery.counted.transactions / max(f.delivery.notices, 1) if f.delivery else None


def summary(label: str, results: list[Repeat]) -> list[str]:
    """Prints the table and the targets; returns the verdict lines for the end."""
    ours = ("http", "direct")
    rows: list[tuple[str, Callable[[Filing], float | None], int]] = [
        ("filings/s (floor: requests/s)", lambda f: f.per_second, 1),
        ("statements per filing", _statements, 2),
        ("transactions per filing", _transactions, 2),
        ("CPU ms per filing (this process)", _cpu, 1),
        ("cards/s delivered after the burst", _cards, 1),
        ("statements per delivered notice", _card_statements, 2),
        ("transactions per delivered notice", _card_transactions, 2),
        ("CPU ms per delivered notice", _card_cpu, 1),
    ]
    say()
    say(f" {label}: median (min-max) over {len(results)} repeats")
    say(f"| figure | {' | '.join(NAMES[v] for v in (*ours, 'floor'))} |")
    say("|---|---|---|---|")
    for name, figure, digits in rows:
        cells = []
        for variant in (*ours, "floor"):
            if variant == "floor":
                values = [
                    x for runs in results for f in runs["floor"] if (x := figure(f)) is not None
                ]
            else:
                values = _per(results, variant, figure)
            cells.append(spread(values, digits))
        say(f"| {name} | {' | '.join(cells)} |")
    shares = {v: [runs[v][0].per_second / _floor_rate(runs) for runs in results] for v in ours}
    say(
        f"| share of the floor (same repeat) | {spread(shares['http'], 3)} | "
        f"{spread(shares['direct'], 3)} | 1 |"
    )
    say("(HTTP: each command queues its team card and its answer, both counted as notices;")
    say(" direct: the team cards only; the floor delivers nothing)")

    verdicts = []

    def target(text: str, ok: bool) -> None:
        verdicts.append(f"{label}: {text}: {verdict(ok)}")
        say(f" TARGET {text}: {verdict(ok)}")

    say()
    for v in ours:
        share = statistics.median(shares[v])
        target(
            f"{NAMES[v]} filing {share:.3f} of the plain-insert floor (>= 1/3)",
            share >= FLOOR_SHARE_TARGET,
        )
    for v in ours:
        cards = statistics.median(_per(results, v, _cards))
        filings = statistics.median(_per(results, v, lambda f: f.per_second))
        target(
            f"{NAMES[v]} cards delivered {cards:,.1f}/s vs filed {filings:,.1f}/s (>=)",
            cards >= filings,
        )
    for v in ours:
        per = statistics.median(_per(results, v, _statements))
        target(
            f"{NAMES[v]} {per:.2f} statements per quick-file filing "
            f"(<= {FILING_STATEMENTS_TARGET})",
            per <= FILING_STATEMENTS_TARGET,
        )
    per_card = statistics.median(_per(results, "direct", _card_statements))
    target(
        f"{NAMES['direct']} {per_card:.2f} statements per delivered card "
        f"(<= {CARD_STATEMENTS_TARGET})",
        per_card <= CARD_STATEMENTS_TARGET,
    )
    problems = sum(len(f.problems) for runs in results for fs in runs.values() for f in fs)
    verdicts.append(
        f"{label}: checks (every command filed once, answered with its key, carded once): "
        + ("PASS" if not problems else f"FAIL ({problems} problems, see CHECK FAILED above)")
    )
    say(f" {verdicts[-1].split(': ', 1)[1]}")
    where(results[-1])
    return verdicts


def where(runs: Repeat) -> None:
    """Statements by kind in the last repeat: per filing, per delivered notice."""
    columns = [
        ("HTTP filing", runs["http"][0].counted.by_label, runs["http"][0].n),
        ("direct filing", runs["direct"][0].counted.by_label, runs["direct"][0].n),
        ("floor", runs["floor"][0].counted.by_label, runs["floor"][0].n),
    ]
    for variant in ("http", "direct"):
        delivery = runs[variant][0].delivery
        if delivery is not None:
            name = "HTTP notice" if variant == "http" else "direct card"
            columns.append((name, delivery.counted.by_label, delivery.notices))
    labels = sorted(
        {label for _n, counts, _c in columns for label in counts},
        key=lambda label: -max(c[label] / max(n, 1) for _n, c, n in columns),
    )
    say()
    say(" where the statements go (last repeat; per filing, per delivered notice)")
    say(f"| statement | {' | '.join(name for name, _c, _n in columns)} |")
    say(f"|---|{'---|' * len(columns)}")
    for label in labels:
        cells = [
            f"{counts[label] / max(n, 1):.2f}" if counts[label] else "" for _x, counts, n in columns
        ]
        say(f"| `{label}` | {' | '.join(cells)} |")


# --- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, root: Path) -> list[str]:
    verdicts: list[str] = []
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        server = None
        databases: Databases
        if kind == "sqlite":
            databases = SqliteDatabases(root)
        else:
            # synchronous_commit on, as in production; fsync off (the machine does not crash).
            server = await asyncio.to_thread(postgres_server.start, durable=True)
            databases = PostgresDatabases(server.host, server.port, server.user)
        try:
            await databases.prepare()
            say()
            say(f"== {databases.label}: {databases.described}")
            if kind == "sqlite":
                say(f"   a copy of one migrated file per run, in {root}")
            else:
                say(
                    f"   a throwaway server on 127.0.0.1:{server.port if server else '?'}, "
                    "a database per run (CREATE DATABASE ... TEMPLATE)"
                )
            results = await measure(databases, args.burst, args.repeats)
            verdicts += summary(databases.label, results)
        finally:
            await databases.close()
            if server is not None:
                await asyncio.to_thread(server.stop)
    return verdicts


def _quiet(record: logging.LogRecord) -> bool:
    """Bolt warns at each app's start that the app's own client carries the token."""
    return "`token` will be unused" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.filing", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"a burst of {QUICK_BURST}")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="repeats (default 3)")
    parser.add_argument("--burst", type=int, help=f"quick-files per burst (default {BURST})")
    args = parser.parse_args(argv)
    args.burst = args.burst or (QUICK_BURST if args.quick else BURST)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_quiet)

    say("Inhouse filing benchmark (bench.filing)")
    say(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}; load average before the run {load_average()}"
    )
    say(
        f"burst: {args.burst} quick-files ({BURST_CONNECTIONS} connections over HTTP), after "
        f"{WARMUP} warm-up filings; {args.repeats} repeats, each "
        + ", ".join(NAMES[v] for v in ORDER)
    )
    say(
        "one process: the app, its fake Slack and the response_urls share this event loop; "
        "the dispatcher runs only after each burst is filed"
    )
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench-filing-"))
    try:
        verdicts = asyncio.run(run(args, root))
    except Exception:
        traceback.print_exc()
        say(f"bench crashed after {time.perf_counter() - started:.0f} s")
        return 1
    finally:
        for path in root.iterdir():
            path.unlink(missing_ok=True)
        root.rmdir()
    say()
    say("summary")
    for text in verdicts:
        say(f"  {text}")
    say(f"total bench time: {time.perf_counter() - started:.0f} s; load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
