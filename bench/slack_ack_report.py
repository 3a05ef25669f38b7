"""The figures of `bench.slack_ack`: tables, ratios, targets and the correctness
checks on ours, printed as plain text."""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.slack_ack_load import UNLOADED, Measured, Phase

P99_RATIO_TARGET = 2.0
P99_TARGET_MS = 100.0
SATURATED_SHARE_TARGET = 50.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(value: float) -> str:
    return f"{value:.1f}"


def table(rows: list[list[str]]) -> str:
    """Plain text: first column left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def cpu_share(seconds: float, elapsed: float) -> str:
    return f"{100 * seconds / elapsed:.0f}%" if elapsed > 0 else "-"


def latency_rows(results: list[Measured], name: str) -> list[list[str]]:
    rows = [
        [
            "server",
            "sent",
            "ok",
            "failed",
            "failures",
            "ok/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            ">3 s",
            "server CPU",
            "loadgen CPU",
        ]
    ]
    for m in results:
        p: Phase = getattr(m, name)
        rows.append(
            [
                m.server.label,
                str(p.sent),
                str(p.ok),
                str(p.failed),
                p.statuses,
                f"{p.throughput:.0f}",
                ms(p.percentile(50)),
                ms(p.percentile(90)),
                ms(p.percentile(99)),
                ms(p.max_ms),
                str(p.over_deadline),
                cpu_share(p.server_cpu, p.elapsed),
                cpu_share(p.loadgen_cpu, p.elapsed),
            ]
        )
    return rows


def aftermath(m: Measured, name: str) -> str:
    p: Phase = getattr(m, name)
    if p.settled_in is not None:
        quiet = f"quiet again {p.settled_in:.1f} s later"
    else:
        left = p.left_over
        quiet = (
            f"NOT quiet within {p.settle_limit:g} s: {left.get('listeners_running')} listeners"
            + (
                f", {left['outbox_pending']} notices still pending"
                if "outbox_pending" in left
                else ""
            )
            + " when it moved on"
        )
    outbox = "" if p.outbox_after is None else f", {p.outbox_after} notices in the outbox"
    commands = "" if p.commands_after is None else f", {p.commands_after} quick-files not yet filed"
    return (
        f"  {m.server.label} after the last response: {p.listeners_after} listeners still "
        f"at work{commands}{outbox}; {quiet}"
    )


def confirmation_line(m: Measured, name: str) -> str:
    """Ours: how long after the scheduled send the answer with the key arrived."""
    p: Phase = getattr(m, name)
    confirmed = sum(1 for o in p.outcomes if o.confirmed_in is not None)
    return (
        f"  {m.server.label} answer with the key at the response_url: {confirmed} of {p.ok} "
        f"acked, p50 {ms(p.confirmed_percentile(50))} ms, p99 "
        f"{ms(p.confirmed_percentile(99))} ms, max {ms(p.confirmed_percentile(100))} ms"
    )


EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Timeout|Cancelled)\w*\b")


def lock_line(m: Measured, name: str) -> str | None:
    waits: list[float] | None = getattr(m, name).begin_seconds
    if not waits:
        return None
    ordered = sorted(waits)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"  {m.server.label} SQLite write lock during the load: {len(ordered)} BEGIN IMMEDIATE, "
        f"{sum(1 for w in ordered if w > 0.005)} waited > 5 ms, p99 {p99 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms, {sum(ordered):.1f} s in all"
    )


def log_summary(log: Path, top: int = 8) -> list[str]:
    """The server's warnings and errors grouped by kind, with the exception that
    ended a logged traceback: what went wrong, how often."""
    if not log.exists():
        return []
    seen: Counter[str] = Counter()
    record: str | None = None
    cause = ""

    def close() -> None:
        if record is not None:
            seen[record + (f" -> {cause[:90]}" if cause else "")] += 1

    for line in log.read_text(errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("INFO", "WARNING", "ERROR", "CRITICAL"):
            close()
            record, cause = None, ""
            if parts[2] != "INFO":
                record = f"{parts[2]} {re.sub(r'[0-9]', '#', parts[3])[:100]}"
        elif record is not None and EXCEPTION_LINE.match(line):
            cause = re.sub(r"[0-9]", "#", line)
    close()
    return [f"{n:>6}× {message}" for message, n in seen.most_common(top)]


@dataclass(frozen=True)
class Figures:
    """One repeat's figures that the targets are judged on, and its correctness checks."""

    bare_p99: float
    ours_p99: float
    bare_saturated: float  # requests per second
    ours_saturated: float
    correctness: list[tuple[str, bool]]

    @property
    def ratio(self) -> float:
        return self.ours_p99 / self.bare_p99 if self.bare_p99 > 0 else float("inf")

    @property
    def share(self) -> float:
        return 100 * self.ours_saturated / self.bare_saturated if self.bare_saturated else 0.0


def report(args: argparse.Namespace, bare: Measured, ours: Measured, started: float) -> Figures:
    """Print one repeat's tables and checks; return its figures."""
    both = [bare, ours]

    print()
    print(f"(0) unloaded: {UNLOADED} requests one after the other on one connection")
    print(table(latency_rows(both, "unloaded")))
    unloaded = ours.unloaded.percentile(50) / bare.unloaded.percentile(50)
    print(f"ratio ours/bare p50: {unloaded:.1f}×")
    print(confirmation_line(ours, "unloaded"))
    for line in filter(None, (lock_line(m, "unloaded") for m in both)):
        print(line)

    print()
    print(
        f"(a) paced: {args.rate:g} req/s open loop for {args.seconds:g} s; latency from each "
        "request's scheduled send time to its full response (queueing included)"
    )
    print(table(latency_rows(both, "paced")))
    figures = Figures(
        bare.paced.percentile(99),
        ours.paced.percentile(99),
        bare.saturated.throughput,
        ours.saturated.throughput,
        correctness=[],
    )
    # The targets are judged on the medians of the repeats (`summary`).
    print(
        f"ratio ours/bare p99: {figures.ratio:.2f}× ({figures.ours_p99:.1f} ms vs "
        f"{figures.bare_p99:.1f} ms)"
    )
    print(confirmation_line(ours, "paced"))
    for m in both:
        print(aftermath(m, "paced"))
    for line in filter(None, (lock_line(m, "paced") for m in both)):
        print(line)

    print()
    print(
        f"(b) saturated: {args.connections} connections closed loop for "
        f"{args.saturated_seconds:g} s; "
        "latency from send to response"
    )
    print(table(latency_rows(both, "saturated")))
    print(f"ours throughput as a share of bare's: {figures.share:.1f}%")
    print(confirmation_line(ours, "saturated"))
    for m in both:
        print(aftermath(m, "saturated"))
    for line in filter(None, (lock_line(m, "saturated") for m in both)):
        print(line)

    print()
    print("correctness (ours after all its phases, warm-up included; the server has stopped)")
    outcomes = ours.outcomes
    failed_http = sum(1 for o in outcomes if o.status != 200)
    transport = sum(1 for o in outcomes if o.status == 0)
    not_filed = sum(1 for o in outcomes if o.status == 200 and not o.ok)
    bare_failed = sum(1 for o in bare.outcomes if not o.ok)
    acked_outcomes = [o for o in outcomes if o.ok]
    unanswered = sum(1 for o in acked_outcomes if not ours.answers.get(o.number))
    answered_twice = sum(1 for o in acked_outcomes if len(ours.answers.get(o.number, [])) > 1)
    not_filed_answer = sum(
        1 for o in acked_outcomes if len(ours.answers.get(o.number, [])) == 1 and o.key is None
    )
    acked = [o.key for o in acked_outcomes if o.key]
    acked_set = set(acked)
    keys: list[str] = ours.server.final.get("stored_keys", [])
    stored = set(keys)
    final = ours.server.final
    cards: dict[str, int] = final.get("channel_keys", {})
    twice = sum(1 for key in acked_set if cards.get(key, 0) > 1)
    missing = sum(1 for key in acked_set if cards.get(key, 0) == 0)
    unexpected = sum(n for key, n in cards.items() if key not in acked_set)
    top = final.get("channel_top_messages", 0)
    results = [
        (
            "zero failed requests (non-200 or transport error)",
            failed_http == 0 and bare_failed == 0,
            f"ours {failed_http} of {len(outcomes)} ({transport} transport errors), "
            f"bare {bare_failed} of {len(bare.outcomes)}",
        ),
        (
            "every 200 from ours says 'Filing your request…' (any language)",
            not_filed == 0,
            f"{not_filed} answered 200 otherwise",
        ),
        (
            "every ack answered once at its response_url: 'Filed IT-n'",
            unanswered == 0 and answered_twice == 0 and not_filed_answer == 0,
            f"{len(acked_outcomes)} acked: {unanswered} never answered, {answered_twice} "
            f"answered twice, {not_filed_answer} answered without a key",
        ),
        (
            "acked quick-files = rows in requests",
            len(acked) == len(keys) and acked_set <= stored and len(acked_set) == len(acked),
            f"{len(acked)} acked, {len(keys)} rows; {len(acked_set - stored)} acked but not "
            f"stored, {len(stored - acked_set)} stored but not acked",
        ),
        (
            "one card per acked request in C0ITDESK",
            top == len(acked) and twice == 0 and missing == 0 and unexpected == 0,
            f"{top} top-level messages for {len(acked)} acked; {missing} missing, "
            f"{twice} posted twice, {unexpected} for requests not acked; outbox "
            f"{final.get('outbox_pending', '?')} pending, {final.get('outbox_dead', '?')} dead",
        ),
    ]
    for name, ok, detail in results:
        figures.correctness.append((name, ok))
        print(f"  {name:<54} {verdict(ok)}  {detail}")
    print(
        f"  ours' dispatcher: {final.get('dispatch_runs')} runs (every "
        f"{args.dispatch_interval:g} s), {final.get('dispatch_delivered')} notices delivered, "
        f"busy {final.get('dispatch_busy_seconds')} s in all, longest run "
        f"{final.get('dispatch_longest_seconds')} s"
    )

    bare_final = bare.server.final
    print(
        f"  bare Bolt's fake Slack: {bare_final.get('api_calls')} Web API calls "
        f"({bare_final.get('api_errors')} failed), {bare_final.get('channel_top_messages')} "
        "messages posted"
    )
    print("  ours' server log, warnings and errors by kind:")
    for line in log_summary(ours.server.workdir / "server.log") or ["       (none)"]:
        print(f"  {line}")

    print(
        f"repeat: paced p99 ours {figures.ours_p99:.1f} ms vs bare {figures.bare_p99:.1f} ms "
        f"({figures.ratio:.2f}×) | saturated ours {figures.ours_saturated:.0f} req/s = "
        f"{figures.share:.1f}% of bare | wall time so far {time.perf_counter() - started:.0f} s"
    )
    return figures


def spread(values: Sequence[float], digits: int = 1) -> str:
    """`median (min-max)` of the repeats."""
    text = f"{statistics.median(values):,.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
    return text


def summary(args: argparse.Namespace, repeats: Sequence[Figures], started: float) -> None:
    """The targets, judged on the medians of the repeats; correctness in every repeat."""
    print()
    print(f"over {len(repeats)} repeats, median (min-max); ours' database: {args.database}")
    rows = [
        ["figure", "bare Bolt", "ours", "ours/bare"],
        [
            f"(a) paced {args.rate:g} req/s, p99 ms",
            spread([r.bare_p99 for r in repeats]),
            spread([r.ours_p99 for r in repeats]),
            spread([r.ratio for r in repeats], 2) + "×",
        ],
        [
            f"(b) saturated, {args.connections} connections, req/s",
            spread([r.bare_saturated for r in repeats], 0),
            spread([r.ours_saturated for r in repeats], 0),
            spread([r.share for r in repeats]) + " %",
        ],
    ]
    print(table(rows))
    ratio = statistics.median(r.ratio for r in repeats)
    ours_p99 = statistics.median(r.ours_p99 for r in repeats)
    share = statistics.median(r.share for r in repeats)
    checks = [
        (
            f"ours p99 within {P99_RATIO_TARGET:g}× of bare at the same pace",
            ratio <= P99_RATIO_TARGET,
        ),
        (f"ours p99 < {P99_TARGET_MS:g} ms", ours_p99 < P99_TARGET_MS),
        (
            f"saturated: ours ≥ {SATURATED_SHARE_TARGET:g} % of bare",
            share >= SATURATED_SHARE_TARGET,
        ),
    ]
    for name, _ok in repeats[0].correctness:
        failing = sum(1 for r in repeats for n, ok in r.correctness if n == name and not ok)
        checks.append((f"{name} (every repeat)", failing == 0))
    for name, ok in checks:
        print(f"  target: {name:<62} {verdict(ok)}")
    failed = [name for name, ok in checks if not ok]
    print()
    print(f"bench wall time: {time.perf_counter() - started:.0f} s")
    print(
        f"SUMMARY: {len(checks) - len(failed)} PASS, {len(failed)} FAIL"
        + (f" (FAIL: {'; '.join(failed)})" if failed else "")
        + f" | medians of {len(repeats)}: paced p99 ours {ours_p99:.1f} ms ({ratio:.2f}× bare)"
        + f" | saturated ours {share:.1f}% of bare"
    )
