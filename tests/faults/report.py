"""A run's figures and verdicts as text: printed by `python -m bench.faults`, and
shown by the pytest subset when a target fails (and with -s)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from tests.faults.count import Figures
from tests.faults.harness import Scenario
from tests.faults.targets import ISSUE_TARGETS, judge, passed


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "never" if value == float("inf") else f"{value:.1f} s"


def describe(f: Figures, scenario: Scenario, runs: int) -> str:
    lines = [
        f"\n{scenario.name} · {f.database} · run {f.run}/{runs} ({f.duration:.0f} s): "
        f"{scenario.title}",
        f"  quick-files: {f.sent} sent, {f.acked} acked ({f.late} after 3 s), "
        f"{f.refused} not acked, {f.unacked_filed} of those filed anyway",
        f"  filed: {f.not_filed} missing, {f.filed_twice} twice · cards: {f.uncarded} missing, "
        f"{f.card_dupes} extra · answers: {f.unanswered} missing, {f.answer_dupes} extra "
        f"({f.answered_by_dm} by DM, {f.not_filed_answers} said NOT filed)",
        f"  warnings: {f.warnings} queued, {f.warnings_missing} missing, {f.warning_dupes} "
        f"extra · rung DMs: {f.rungs} recorded, {f.rung_dms_missing} missing, "
        f"{f.rung_dm_dupes} extra",
        f"  dead letters: {f.dead}"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(f.dead_codes.items()))})" if f.dead else "")
        + f" · left: {f.left_in_outbox} in the outbox, {f.left_in_inbox} in the inbox"
        + f" · {f.slack_refusals} Slack calls met an outage",
    ]
    for kill in f.kills:
        lines.append(
            f"  kill -9 {kill.replica}: {len(kill.leased)} notices leased "
            f"({len(kill.in_flight)} in flight), "
            + (
                f"all delivered {_seconds(kill.delivered_in)} after the kill"
                if kill.leased and not kill.undelivered
                else f"{kill.undelivered} never delivered"
                if kill.leased
                else "nothing to take over"
            )
            + (f"; it answered again {kill.back_in:.1f} s after the kill" if kill.back_in else "")
        )
    if f.pending_at_stop is not None:
        lines.append(
            f"  SIGTERM with {f.pending_at_stop} queued: "
            + (
                f"exited {f.stop_status} after {f.stop_seconds:.1f} s"
                if f.stop_status is not None
                else f"still running after {f.stop_seconds:.0f} s: SIGKILL"
            )
        )
    if f.recovery_applies:
        lines.append(f"  recovery: all delivered {_seconds(f.recovery)} after the fault ended")
    lines.extend(f"  | {note}" for note in f.notes)
    for verdict in judge(f):
        mark = {True: "PASS", False: "FAIL", None: " -- "}[verdict.ok]
        lines.append(f"  {mark} {verdict.name}: {verdict.detail}")
    return "\n".join(lines)


def _spread(values: Sequence[float | None]) -> str:
    """Median (min–max) of the runs' figures; "n/a" where a figure does not apply,
    "+k never" for runs where it never happened (e.g. leases never delivered)."""
    known = [v for v in values if v is not None and v != float("inf")]
    never = sum(1 for v in values if v == float("inf"))
    if not known:
        return "never" if never else "n/a"
    whole = all(float(v).is_integer() for v in known)
    shown = (lambda v: f"{v:.0f}") if whole else (lambda v: f"{v:.1f}")
    text = shown(statistics.median(known))
    if len(known) > 1:
        text += f" ({shown(min(known))}–{shown(max(known))})"
    return text + (f" +{never} never" if never else "")


def summary(results: dict[tuple[str, str], list[Figures]]) -> str:
    header = (
        f"{'scenario':<14} {'database':<10} {'runs':>4}  {'acked':<16} {'lost':<12} "
        f"{'duplicates':<12} {'dead':<8} {'recovery s':<16} {'takeover s':<16} all targets"
    )
    lines = ["\nsummary: median (min–max) over runs", header, "-" * len(header)]
    for (name, database), runs in results.items():
        verdicts = [judge(f) for f in runs]
        ok = sum(1 for v in verdicts if passed(v))
        lines.append(
            f"{name:<14} {database:<10} {len(runs):>4}  "
            f"{_spread([f.acked for f in runs]):<16} {_spread([f.lost for f in runs]):<12} "
            f"{_spread([f.duplicates for f in runs]):<12} {_spread([f.dead for f in runs]):<8} "
            f"{_spread([f.recovery if f.recovery_applies else None for f in runs]):<16} "
            f"{_spread([f.leased_delivered_in for f in runs]):<16} "
            f"PASS {ok}/{len(runs)}"
        )
    lines.append("\nper target, runs that PASS / runs it applies to:")
    for (name, database), runs in results.items():
        cells = []
        for index, target in enumerate(ISSUE_TARGETS):
            judged = [judge(f)[index] for f in runs]
            applies = [v for v in judged if v.ok is not None]
            if applies:
                good = sum(1 for v in applies if v.ok)
                cells.append(f"{judged[0].name} {good}/{len(applies)}")
            del target
        lines.append(f"  {name} · {database}: " + "; ".join(cells))
    return "\n".join(lines)
