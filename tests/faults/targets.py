"""The issue's targets (issue 13, "Proof"), each judged on one run's figures.

A target that does not apply to a scenario (nobody was killed, nothing to recover
from) is None: neither PASS nor FAIL.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.faults.count import Figures

RECOVERY_SECONDS = 60.0  # delivery within 1 minute of recovery
TAKEOVER_SECONDS = 15.0  # a killed process's leased notices delivered within 15 s


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool | None
    detail: str


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "never" if value == float("inf") else f"{value:.1f}s"


def filed_once(f: Figures) -> Verdict:
    return Verdict(
        "filed exactly once",
        f.not_filed == 0 and f.filed_twice == 0,
        f"{f.acked} acked: {f.not_filed} not filed, {f.filed_twice} filed twice",
    )


def carded(f: Figures) -> Verdict:
    return Verdict("carded at least once", f.uncarded == 0, f"{f.uncarded} requests without a card")


def carded_once(f: Figures) -> Verdict:
    return Verdict(
        "carded exactly once",
        f.uncarded == 0 and f.card_dupes == 0,
        f"{f.uncarded} without a card, {f.card_dupes} extra cards",
    )


def answered(f: Figures) -> Verdict:
    return Verdict(
        "answered at least once", f.unanswered == 0, f"{f.unanswered} acked commands unanswered"
    )


def answered_once(f: Figures) -> Verdict:
    return Verdict(
        "answered exactly once",
        f.unanswered == 0 and f.answer_dupes == 0,
        f"{f.unanswered} unanswered, {f.answer_dupes} extra answers "
        f"({f.answered_by_dm} by DM, {f.not_filed_answers} said NOT filed)",
    )


def escalations(f: Figures) -> Verdict:
    """Each warning and each rung's DM reached Slack at least once."""
    return Verdict(
        "warnings and rung DMs delivered",
        f.warnings_missing == 0 and f.rung_dms_missing == 0,
        f"{f.warnings_missing} of {f.warnings} warnings, "
        f"{f.rung_dms_missing} of {f.rungs} rung DMs missing",
    )


def escalations_once(f: Figures) -> Verdict:
    return Verdict(
        "warnings and rung DMs exactly once",
        f.warnings_missing == 0
        and f.rung_dms_missing == 0
        and f.warning_dupes == 0
        and f.rung_dm_dupes == 0,
        f"{f.warnings} warnings ({f.warnings_missing} missing, {f.warning_dupes} extra), "
        f"{f.rungs} rung DMs ({f.rung_dms_missing} missing, {f.rung_dm_dupes} extra)",
    )


def no_dead_letters(f: Figures) -> Verdict:
    codes = ", ".join(f"{code} {n}" for code, n in sorted(f.dead_codes.items()))
    return Verdict(
        "0 dead letters", f.dead == 0, f"{f.dead} dead" + (f" ({codes})" if codes else "")
    )


def nothing_left(f: Figures) -> Verdict:
    return Verdict(
        "nothing left undelivered",
        f.left_in_outbox == 0 and f.left_in_inbox == 0,
        f"{f.left_in_outbox} in the outbox, {f.left_in_inbox} in the inbox at the end",
    )


def recovered(f: Figures) -> Verdict:
    if not f.recovery_applies:
        return Verdict("delivered within 1 min of recovery", None, "no fault to recover from")
    return Verdict(
        "delivered within 1 min of recovery",
        f.recovery is not None and f.recovery <= RECOVERY_SECONDS,
        f"{_seconds(f.recovery)} after the fault ended",
    )


def taken_over(f: Figures) -> Verdict:
    leased = sum(len(kill.leased) for kill in f.kills)
    if not f.kills or not leased:
        detail = "no kill" if not f.kills else "the killed process held no lease"
        return Verdict("killed process's leases delivered within 15 s", None, detail)
    slowest = f.leased_delivered_in
    return Verdict(
        "killed process's leases delivered within 15 s",
        slowest is not None and slowest <= TAKEOVER_SECONDS,
        f"{leased} leased at the kill, all delivered {_seconds(slowest)} after it",
    )


# The issue's targets, in the order they are printed.
ISSUE_TARGETS = (
    filed_once,
    carded_once,
    answered_once,
    escalations_once,
    no_dead_letters,
    recovered,
    taken_over,
)


def judge(f: Figures) -> list[Verdict]:
    return [target(f) for target in ISSUE_TARGETS]


def passed(verdicts: list[Verdict]) -> bool:
    return all(v.ok is not False for v in verdicts)
