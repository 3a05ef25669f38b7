"""The desk the fault suite runs: its catalog, its people on the fake Slack, and
plain SQL reads of its database (what an operator with psql or sqlite3 would see).

Two teams: `it` with an ordinary standard (4 h), which most quick-files go to, and
`fast` with a 20 s first-response standard, so that during a run of a minute its
requests are warned at 15 s (a line in the card's thread), escalated to the lead
at 20 s and to the manager at 25 s (urgent rungs: DMs at once, day or night), each
rung also editing the card. Every quick-file carries a marker (`q00042`) in its
title, so each thing on Slack says which command it belongs to.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.fakes.slack_api import FakeSlack

SIGNING_SECRET = "fault-suite-signing-secret"
TEAM_CHANNELS = {"it": "C0ITDESK", "fast": "C0FAST"}
LEAD, MANAGER = "U0LEAD", "U0BOSS"
REQUESTERS = [f"U0R{n:02d}" for n in range(1, 11)]
# Every FAST_EVERY-th quick-file goes to the team with the 20 s standard.
FAST_EVERY = 5
STANDARD_SECONDS = 20
# Warning at 75 %, the lead at the lapse, the manager 5 s later.
LADDER = {0: None, 1: LEAD, 2: MANAGER}
LAST_RUNG_AFTER = STANDARD_SECONDS + 5

MARKER = re.compile(r"\bq(\d{5})\b")


def catalog() -> str:
    requesters = "\n".join(
        f"  - {{email: r{n:02d}@example.com, name: Requester {n:02d}, department: Sales, "
        f"slack: {user}, timezone: UTC}}"
        for n, user in enumerate(REQUESTERS, start=1)
    )
    return f"""
calendars:
  always: 24x7
people:
{requesters}
  - {{email: alice@example.com, name: Alice Novak, department: Operations, slack: U0ALICE}}
  - {{email: lena@example.com, name: Lena Lead, department: Operations, slack: {LEAD}}}
  - {{email: marco@example.com, name: Marco Boss, department: Operations, slack: {MANAGER}}}
teams:
  - key: it
    name: IT Service Desk
    slack_channel: {TEAM_CHANNELS["it"]}
    members: [alice@example.com]
    leads: [lena@example.com]
    calendar: always
    standards:
      normal: {{first_response: 4h, resolution: 3d}}
  - key: fast
    name: Fast Lane
    slack_channel: {TEAM_CHANNELS["fast"]}
    members: [alice@example.com]
    leads: [lena@example.com]
    calendar: always
    warn_at: 75%
    standards:
      normal: {{first_response: {STANDARD_SECONDS}s, resolution: 1h}}
    escalation:
      - {{after: 0m, notify: [leads], urgent: true}}
      - {{after: 5s, notify: [marco@example.com], urgent: true}}
survey: {{scale: 5, reopen_below: 3, auto_close_after: 3d}}
"""


def populate(fake: FakeSlack) -> None:
    """The workspace as Slack knows it: the teams' channels and every person."""
    for key, channel in TEAM_CHANNELS.items():
        fake.add_channel(channel, f"{key}-desk")
    for n, user in enumerate(REQUESTERS, start=1):
        fake.add_user(user, email=f"r{n:02d}@example.com", real_name=f"Requester {n:02d}", tz="UTC")
    fake.add_user("U0ALICE", email="alice@example.com", real_name="Alice Novak", tz="UTC")
    fake.add_user(LEAD, email="lena@example.com", real_name="Lena Lead", tz="UTC")
    fake.add_user(MANAGER, email="marco@example.com", real_name="Marco Boss", tz="UTC")


def team_of(n: int) -> str:
    return "fast" if n % FAST_EVERY == 0 else "it"


def requester_of(n: int) -> str:
    return REQUESTERS[n % len(REQUESTERS)]


def quick_file_text(n: int, tag: str) -> str:
    return f"{team_of(n)} Fault {tag} q{n:05d}"


def marker_of(value: str) -> int | None:
    found = MARKER.search(value)
    return int(found.group(1)) if found else None


# --- the database, read with plain SQL ------------------------------------------------


def sync_url(database_url: str) -> str:
    return database_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def new_postgres_database(host: str, port: int, user: str) -> str:
    """An empty database on the server (the suite's processes migrate it)."""
    name = f"faults_{secrets.token_hex(5)}"
    admin = create_engine(
        f"postgresql+psycopg://{user}@{host}:{port}/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return f"postgresql+asyncpg://{user}@{host}:{port}/{name}"


def utc(value: Any) -> datetime | None:
    """A stored instant as an aware UTC datetime (SQLite hands back text)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class Database:
    """Reads of the desk's database from outside (never through our code)."""

    url: str

    def __post_init__(self) -> None:
        self._engine: Engine = create_engine(sync_url(self.url), pool_pre_ping=True)

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self._engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def scalar(self, sql: str, **params: Any) -> Any:
        return self.rows(sql, **params)[0][0]

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def tolerant(self) -> Iterator[None]:
        """For polls while the database may be down: a failed read is no answer."""
        try:
            yield
        except Exception:
            self._engine.dispose()

    def leased_by(self, pid: int, *, in_flight: bool = False) -> list[int]:
        """Undelivered notices leased (a lease not run out) by the process `pid`
        (the lease owner is `host:pid:random`); `in_flight`: only those it has
        started to deliver (marked before the platform is called)."""
        now = datetime.now(UTC)
        started = " AND attempt_started_at IS NOT NULL" if in_flight else ""
        return [
            int(row[0])
            for row in self.rows(
                "SELECT id, lease_owner, lease_until FROM outbox "
                "WHERE delivered_at IS NULL AND dead_at IS NULL AND lease_owner IS NOT NULL"
                + started
            )
            if str(row[1]).split(":")[1:2] == [str(pid)]
            and (until := utc(row[2])) is not None
            and until > now
        ]

    def delivered_at(self, ids: list[int]) -> dict[int, datetime | None]:
        if not ids:
            return {}
        listed = ",".join(str(int(i)) for i in ids)
        return {
            int(row[0]): utc(row[1])
            for row in self.rows(f"SELECT id, delivered_at FROM outbox WHERE id IN ({listed})")
        }

    def unsettled(self, before: datetime | None = None) -> int:
        """Undelivered notices (not dead), created before `before` if given; plus
        commands still in the inbox."""
        notices = [
            utc(row[0])
            for row in self.rows(
                "SELECT created_at FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL"
            )
        ]
        waiting = int(self.scalar("SELECT count(*) FROM pending_commands WHERE done_at IS NULL"))
        counted = [m for m in notices if before is None or (m is not None and m <= before)]
        return len(counted) + waiting

    def steps_to_come(self) -> int:
        """Warnings and rungs the 20 s team's requests have not reached yet (each
        of them reaches all three within LAST_RUNG_AFTER of being filed)."""
        fast = "FROM requests r JOIN teams t ON t.id = r.team_id WHERE t.key = 'fast'"
        requests = int(self.scalar(f"SELECT count(*) {fast}"))
        steps = int(
            self.scalar(
                "SELECT count(*) FROM escalations e JOIN requests r ON r.id = e.request_id "
                "JOIN teams t ON t.id = r.team_id WHERE t.key = 'fast' AND e.level IN (0, 1, 2)"
            )
        )
        return len(LADDER) * requests - steps
