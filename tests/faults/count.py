"""What a run did, counted from the two places a person or an operator can look:
the fake Slack (what people saw) and the database (what the desk stored).

Per acknowledged command: the requests filed for it (by the marker in the title),
the cards posted for them (top-level messages in the team channel), the answers
the person got (posts to the command's response_url, DMs naming the marker).
Per request of the 20 s team: the warning (a line in its card's thread) and the
DMs of each rung (the lead's, the manager's), against the steps the database
recorded. Then dead letters, what is left undelivered, and the fault's figures.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakes.slack_api import FakeSlack
from tests.faults.desk import LADDER, TEAM_CHANNELS, Database, marker_of, utc
from tests.faults.load import Sent


@dataclass
class Kill:
    """One process killed with SIGKILL, and what it held at that moment."""

    replica: str
    at: datetime  # wall clock, UTC
    leased: list[int]  # undelivered notices under its lease when it died
    in_flight: list[int] = field(default_factory=list)  # of those, on their way to Slack
    delivered_in: float | None = None  # seconds until the last of them was delivered
    undelivered: int = 0
    back_in: float | None = None  # seconds until the killed replica answered again


@dataclass
class Figures:
    scenario: str
    database: str
    run: int
    sent: int = 0
    acked: int = 0
    late: int = 0  # acknowledged after Slack's 3 s: the person saw an error first
    refused: int = 0  # not acknowledged (connection refused, 5xx, timeout)
    unacked_filed: int = 0  # not acknowledged, yet filed (the person saw an error)
    not_filed: int = 0
    filed_twice: int = 0
    uncarded: int = 0
    card_dupes: int = 0
    unanswered: int = 0
    answer_dupes: int = 0
    answered_by_dm: int = 0
    not_filed_answers: int = 0  # "NOT filed" said to someone
    warnings: int = 0  # queued by the sweep
    warnings_missing: int = 0
    warning_dupes: int = 0
    rungs: int = 0  # (request, level) ladder steps recorded, each with one DM
    rung_dms_missing: int = 0
    rung_dm_dupes: int = 0
    dead: int = 0
    dead_codes: dict[str, int] = field(default_factory=dict)
    left_in_outbox: int = 0
    left_in_inbox: int = 0
    kills: list[Kill] = field(default_factory=list)
    recovery: float | None = None  # seconds from the fault's end until all was delivered
    recovery_applies: bool = False
    stop_status: int | None = None  # SIGTERM scenarios: exit status (None: killed)
    stop_seconds: float | None = None
    pending_at_stop: int | None = None
    slack_refusals: int = 0
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return (
            self.not_filed
            + self.uncarded
            + self.unanswered
            + self.warnings_missing
            + self.rung_dms_missing
        )

    @property
    def duplicates(self) -> int:
        return (
            self.filed_twice
            + self.card_dupes
            + self.answer_dupes
            + self.warning_dupes
            + (self.rung_dm_dupes)
        )

    @property
    def leased_delivered_in(self) -> float | None:
        """The slowest kill: seconds until its leased notices were all delivered
        (None when none of the kills left any, inf when some never were)."""
        times = [
            kill.delivered_in if kill.delivered_in is not None else float("inf")
            for kill in self.kills
            if kill.leased
        ]
        return max(times) if times else None


def _text(message: Any) -> str:
    return f"{message.text} {json.dumps(message.blocks or [])}"


def count(
    figures: Figures,
    fake: FakeSlack,
    db: Database,
    sent: list[Sent],
    *,
    fault_end: datetime | None,
    wall_of: Any,  # monotonic seconds -> aware UTC datetime
) -> Figures:
    acked = {s.n: s for s in sent if s.acked}
    figures.sent = len(sent)
    figures.acked = len(acked)
    figures.late = sum(1 for s in sent if s.late)
    figures.refused = figures.sent - figures.acked

    # -- filed: requests by marker
    requests = db.rows("SELECT id, title, created_at FROM requests")
    filed: Counter[int] = Counter()
    marker_of_request: dict[int, int] = {}
    for request_id, title, _created in requests:
        n = marker_of(str(title))
        if n is not None:
            filed[n] += 1
            marker_of_request[int(request_id)] = n
    figures.not_filed = sum(1 for n in acked if filed[n] == 0)
    figures.filed_twice = sum(count - 1 for count in filed.values() if count > 1)
    figures.unacked_filed = sum(1 for s in sent if not s.acked and filed[s.n])

    # -- cards, and the warnings in their threads
    cards: Counter[int] = Counter()
    card_marker: dict[tuple[str, str], int] = {}
    warned: Counter[int] = Counter()
    for channel in TEAM_CHANNELS.values():
        for message in fake.messages.get(channel, []):
            # A parent with replies carries its own ts as thread_ts (as on Slack).
            top = message.thread_ts in (None, message.ts)
            if top and (n := marker_of(_text(message))) is not None:
                cards[n] += 1
                card_marker[(channel, message.ts)] = n
        for message in fake.messages.get(channel, []):
            if message.thread_ts not in (None, message.ts):
                n = card_marker.get((channel, message.thread_ts))
                if n is not None:
                    warned[n] += 1
    figures.uncarded = sum(1 for n in filed if cards[n] == 0)
    figures.card_dupes = sum(count - 1 for count in cards.values() if count > 1)

    # -- answers: the response_url, or a DM naming the marker
    answers: Counter[int] = Counter()
    first_answer: dict[int, float] = {}
    for s in sent:
        posts = fake.responses.get(s.response_url, [])
        # Posted twice (an attempt whose answer was lost), an answer that replaces
        # itself still shows once: count what the person sees.
        answers[s.n] += len(fake.shown(s.response_url))
        figures.not_filed_answers += sum(1 for body in posts if "NOT filed" in str(body))
        if fake.response_times.get(s.response_url):
            first_answer[s.n] = fake.response_times[s.response_url][0]
    requesters = {s.user for s in sent}
    for call in fake.calls:
        if call.method != "chat.postMessage" or not call.ok:
            continue
        channel = str(call.args.get("channel", ""))
        user = channel[1:] if channel.startswith("D") else channel
        if user in requesters and (n := marker_of(str(call.args.get("text", "")))) is not None:
            answers[n] += 1
            figures.answered_by_dm += 1
            figures.not_filed_answers += "NOT filed" in str(call.args.get("text", ""))
            first_answer[n] = min(first_answer.get(n, call.at), call.at)
    figures.unanswered = sum(1 for n in acked if answers[n] == 0)
    figures.answer_dupes = sum(count - 1 for count in answers.values() if count > 1)

    # -- warnings the sweep queued (a warning whose lapse had passed by the time
    # the sweep came is recorded silently: it would say nothing new), and the rungs
    # it recorded, each with one DM; against what reached Slack
    for request_id, queued in db.rows(
        "SELECT request_id, count(*) FROM outbox WHERE kind = 'warning' GROUP BY request_id"
    ):
        n = marker_of_request.get(int(request_id))
        if n is not None:
            figures.warnings += int(queued)
            figures.warnings_missing += max(0, int(queued) - warned[n])
    rung_dms: Counter[tuple[int, int]] = Counter()
    for level, user in LADDER.items():
        if user is None:
            continue
        for message in fake.messages.get(f"D{user}", []):
            if (n := marker_of(_text(message))) is not None:
                rung_dms[(n, level)] += 1
    for request_id, level in db.rows("SELECT request_id, level FROM escalations WHERE level > 0"):
        n = marker_of_request.get(int(request_id))
        if n is not None and int(level) in LADDER:
            figures.rungs += 1
            figures.rung_dms_missing += rung_dms[(n, int(level))] == 0
    figures.warning_dupes = sum(count - 1 for count in warned.values() if count > 1)
    figures.rung_dm_dupes = sum(count - 1 for count in rung_dms.values() if count > 1)

    # -- the outbox and the inbox at the end
    dead = db.rows("SELECT error_code FROM outbox WHERE dead_at IS NOT NULL")
    figures.dead = len(dead)
    figures.dead_codes = dict(Counter(str(code) for (code,) in dead))
    figures.left_in_outbox = int(
        db.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL")
    )
    figures.left_in_inbox = int(
        db.scalar("SELECT count(*) FROM pending_commands WHERE done_at IS NULL")
    )
    figures.slack_refusals = sum(fake.outage_refusals.values())

    # -- the killed processes' leases
    for kill in figures.kills:
        delivered = db.delivered_at(kill.leased)
        kill.undelivered = sum(1 for moment in delivered.values() if moment is None)
        if kill.leased and not kill.undelivered:
            last = max(moment for moment in delivered.values() if moment is not None)
            kill.delivered_in = max(0.0, (last - kill.at).total_seconds())

    # -- recovery: what was caused before the fault ended, delivered after it
    if fault_end is not None:
        figures.recovery_applies = True
        figures.recovery = _recovery(db, acked, first_answer, fault_end, wall_of)
    return figures


def _recovery(
    db: Database,
    acked: dict[int, Sent],
    first_answer: dict[int, float],
    fault_end: datetime,
    wall_of: Any,
) -> float | None:
    """Seconds from `fault_end` until the last notice queued before it was
    delivered and the last command acknowledged before it was answered; None if
    some notice from before it is still undelivered (dead letters count as lost
    elsewhere, not here)."""
    latest = fault_end
    for created, delivered, dead in db.rows("SELECT created_at, delivered_at, dead_at FROM outbox"):
        created_at = utc(created)
        if created_at is None or created_at > fault_end or dead is not None:
            continue
        delivered_at = utc(delivered)
        if delivered_at is None:
            return None
        latest = max(latest, delivered_at)
    for n, s in acked.items():
        if n in first_answer and wall_of(s.at) <= fault_end:
            latest = max(latest, wall_of(first_answer[n]))
    return (latest - fault_end).total_seconds()
