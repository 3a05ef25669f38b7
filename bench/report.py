"""Does the insight report answer over a year of a large organisation in under a second?

    .venv/bin/python -m bench.report           # 1M requests, 40 teams, ~5 min
    .venv/bin/python -m bench.report --quick   # 100k requests, 10 teams, ~30 s

Runs on a throwaway PostgreSQL (tests.postgres_server) with a generated catalog (40
teams on five calendars, two-rung ladders, `recognition: true`) and requesters in
ten departments. Requests, their escalations, audit events and surveys are loaded
with set-based SQL (INSERT ... SELECT FROM generate_series, random() after setseed,
so every run loads the same rows) into the schema of migration 0009; upgrading to
head then backfills requests.reopen_count and the insight rollups (migration 0010,
timed), then VACUUM ANALYZE. Measured in the same run, after a warm-up, the median
of 5 runs each of:

(a) the full report over the year: `insight(session, since, until, now)`, all teams,
    department-pair matrix, recognition, five-star comments, weekly points;
(b) the department-pair matrix alone (`handlers.insight_pairs.department_matrix`);
(c) a plain `SELECT count(*) FROM requests`;

the ratios (a)/(c) and (b)/(c), the target "under 1 s" for (a) and (b), and one
team's report for the last 30 days (the `stats` command's query). Then where the
time goes: every SQL statement insight() sends, timed as sent, and the plans of the
slowest; and what a commit pays to keep the rollups fresh
(`handlers.insight_rollup.take` and `settle` for 1 and 100 changed requests, rolled
back).
See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from alembic import command
from alembic.config import Config
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import MIGRATIONS, build_engine, build_sessions
from handlers import insight_rollup
from handlers.access import active_teams
from handlers.catalog_apply import apply_catalog
from handlers.insight import Insight, insight, worst_cell_sentence
from handlers.insight_pairs import department_matrix
from handlers.insight_period import Period
from models.catalog import parse_catalog
from models.requests import Request
from tests import postgres_server

REQUESTS = 1_000_000
TEAMS = 40
REQUESTERS = 3_000
QUICK_REQUESTS = 100_000
QUICK_TEAMS = 10
QUICK_REQUESTERS = 500
RUNS = 5
TEAM_DAYS = 30  # the `stats` command's "month"
TARGET_S = 1.0
# The rows are loaded into the schema of this revision; upgrading to head then
# backfills requests.reopen_count and the insight rollups (migration 0010) in SQL.
LOADED_AT = "0009"
SEED = 0.4242  # setseed() takes -1..1
LOAD_CHUNK = 250_000  # requests per INSERT ... SELECT statement
BULK_TABLES = ("requests", "escalations", "surveys", "request_events")
STAFF_PER_TEAM = 5  # members; plus one lead
SLOWEST_EXPLAINED = 2
# The year the requests were filed in; "now" is its end. Fixed, so runs compare.
YEAR_END = datetime(2026, 11, 23, tzinfo=UTC)
YEAR_START = YEAR_END - timedelta(days=365)

# (key, name, prefix, categories, standards profile)
FUNCTIONS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("it", "IT Service Desk", "IT", ("Hardware", "Software", "Access", "Network"), "fast"),
    ("hr", "People & HR", "HR", ("Contracts", "Leave", "Onboarding", "Benefits"), "slow"),
    ("fin", "Finance", "FIN", ("Invoices", "Expenses", "Purchase orders", "Payroll"), "normal"),
    ("fac", "Facilities", "FAC", ("Repairs", "Cleaning", "Desks & rooms", "Access cards"), "fast"),
    ("legal", "Legal", "LEG", ("Contracts", "NDAs", "Disputes", "Compliance"), "slow"),
    ("proc", "Procurement", "PRO", ("Suppliers", "Orders", "Quotes", "Returns"), "normal"),
    ("sec", "Security", "SEC", ("Incidents", "Phishing", "Access reviews", "Badges"), "fast"),
    ("data", "Data & BI", "DAT", ("Dashboards", "Exports", "Data quality", "Access"), "normal"),
    ("travel", "Travel", "TRV", ("Flights", "Hotels", "Visas", "Expenses"), "normal"),
    ("pay", "Payroll", "PAY", ("Salary", "Bonus", "Tax", "Corrections"), "slow"),
)
# (key, name, calendar); the Security teams work 24x7 whatever their site.
SITES: tuple[tuple[str, str, str], ...] = (
    ("ber", "Berlin", "berlin"),
    ("mil", "Milan", "milan"),
    ("vie", "Vienna", "vienna"),
    ("mad", "Madrid", "madrid"),
)
CALENDARS: dict[str, Any] = {
    "berlin": {
        "timezone": "Europe/Berlin",
        "hours": {"mon-fri": "09:00-17:00"},
        "holidays": {"country": "DE", "subdivision": "BE", "dates": ["2026-12-24"]},
    },
    "milan": {
        "timezone": "Europe/Rome",
        "hours": {"mon-fri": "08:30-12:30, 13:30-17:30"},
        "holidays": {"country": "IT"},
    },
    "vienna": {
        "timezone": "Europe/Vienna",
        "hours": {"mon-thu": "08:00-16:30", "fri": "08:00-13:00"},
        "holidays": {"country": "AT"},
    },
    "madrid": {
        "timezone": "Europe/Madrid",
        "hours": {"mon-fri": "09:00-18:00"},
        "holidays": {"country": "ES"},
    },
    "always": "24x7",
}
# Wall-clock seconds per business second, over a week (168 h / working hours).
WALL_PER_BUSINESS = {"berlin": 4.2, "milan": 4.2, "vienna": 4.42, "madrid": 3.73, "always": 1.0}
STANDARDS: dict[str, dict[str, dict[str, str]]] = {
    "fast": {
        "urgent": {"first_response": "30m", "resolution": "4h"},
        "high": {"first_response": "1h", "resolution": "1d"},
        "normal": {"first_response": "4h", "resolution": "3d"},
        "low": {"first_response": "1d", "resolution": "10d"},
    },
    "normal": {
        "urgent": {"first_response": "1h", "resolution": "1d"},
        "high": {"first_response": "4h", "resolution": "2d"},
        "normal": {"first_response": "1d", "resolution": "5d"},
        "low": {"first_response": "2d", "resolution": "10d"},
    },
    "slow": {
        "urgent": {"first_response": "2h", "resolution": "1d"},
        "high": {"first_response": "4h", "resolution": "3d"},
        "normal": {"first_response": "1d", "resolution": "5d"},
        "low": {"first_response": "3d", "resolution": "15d"},
    },
}
# (name, share of requests filed in %, how much worse than average it is served)
DEPARTMENTS: tuple[tuple[str | None, int, float], ...] = (
    ("Sales", 16, 1.25),
    ("Marketing", 8, 1.0),
    ("Engineering", 20, 0.9),
    ("Product", 6, 0.95),
    ("Customer Support", 12, 1.1),
    ("Operations", 10, 0.9),
    ("Finance", 6, 1.0),
    ("HR", 4, 1.0),
    ("Legal", 3, 1.15),
    ("Logistics", 11, 1.05),
    (None, 4, 1.2),  # requesters whose profile has no department
)
FIRST_NAMES = (
    "Anna", "Ben", "Chiara", "David", "Elena", "Finn", "Greta", "Hugo", "Ines", "Jonas",
    "Katrin", "Leon", "Marta", "Nico", "Olivia", "Paul", "Rosa", "Samir", "Tina", "Ugo",
)  # fmt: skip
LAST_NAMES = (
    "Albers", "Bauer", "Conti", "Duarte", "Esposito", "Fuchs", "Garcia", "Huber",
    "Iglesias", "Jung", "Klein", "Lang", "Moreno",
)  # fmt: skip
COMMENTS = {
    "good": (
        "Thanks, solved within minutes!",
        "Great help, very friendly.",
        "Super quick, thank you.",
        "Exactly what I needed.",
        "Perfect, and well explained.",
        "Fast and painless, thanks a lot.",
    ),
    "middling": (
        "Fine in the end.",
        "OK, but I had to ask twice.",
        "Solved, a bit slow.",
        "Works now.",
    ),
    "bad": (
        "Took far too long.",
        "Nobody answered for days.",
        "Still not really fixed.",
        "I had to chase this three times.",
    ),
}


# --- loading ----------------------------------------------------------------------------

# One chunk of requests [lo, hi]. Level x draws the random numbers, level a joins
# the team, requester, standard and staff drawn, b derives the clocks, c the status,
# s what was spent; the outer SELECT writes the columns as the product stores them
# (enum names, business seconds, due times). Each level ends in OFFSET 0 so that
# PostgreSQL computes it once per row instead of inlining (and re-evaluating) it
# everywhere the next level refers to it.
INSERT_REQUESTS = """
INSERT INTO requests (
    key, team_id, number, requester_id, assignee_id, category, priority, title, description,
    status, created_at, first_response_at, resolved_at, closed_at,
    first_response_target_seconds, resolution_target_seconds, first_response_due_at,
    first_response_business_seconds, resolution_consumed_seconds, resolution_running_since,
    resolution_due_at, next_check_at, escalation_level)
SELECT s.prefix || '-' || s.g, s.team_id, s.g, s.requester_id,
    CASE WHEN s.status <> 'OPEN' OR s.u_sub < 0.1 THEN s.staff_id END,
    s.category, s.priority, 'Request ' || s.g || ' about ' || coalesce(s.category, 'something'),
    '', s.status, s.created,
    CASE WHEN s.answered THEN s.fr_at END,
    CASE WHEN s.resolved THEN s.res_at END,
    CASE WHEN s.status = 'CLOSED' THEN s.res_at + interval '3 days' END,
    s.fr_t, s.res_t, s.fr_due,
    CASE WHEN s.answered THEN s.fr_bs END,
    s.consumed,
    CASE WHEN s.running THEN s.created END,
    CASE WHEN s.running THEN s.res_due END,
    CASE WHEN s.running AND s.answered THEN s.res_due
         WHEN s.running THEN LEAST(s.fr_due, s.res_due) END,
    CASE WHEN GREATEST(s.fr_spent - s.fr_t, s.res_spent - s.res_t) > s.step2 THEN 2
         WHEN GREATEST(s.fr_spent - s.fr_t, s.res_spent - s.res_t) > 0 THEN 1 ELSE 0 END
FROM (
  SELECT c.*,
    CASE WHEN c.answered THEN c.fr_bs ELSE c.elapsed_bs END AS fr_spent,
    CASE WHEN c.resolved THEN c.res_cs WHEN c.status = 'WAITING' THEN c.res_cs / 3
         ELSE c.elapsed_bs END AS res_spent,
    CASE WHEN c.resolved THEN c.res_cs WHEN c.status = 'WAITING' THEN c.res_cs / 3
         ELSE 0 END AS consumed,
    NOT c.resolved AND c.status <> 'WAITING' AS running
  FROM (
    SELECT b.*,
      CASE WHEN b.resolved THEN
             CASE WHEN b.res_at < CAST(:now AS timestamptz) - interval '3 days'
                       AND b.u_sub < 0.9 THEN 'CLOSED' ELSE 'RESOLVED' END
           WHEN NOT b.answered THEN 'OPEN'
           WHEN b.u_sub > 0.75 THEN 'WAITING'
           ELSE 'IN_PROGRESS' END AS status
    FROM (
      SELECT a.*,
        a.created + make_interval(secs => a.fr_bs * a.factor) AS fr_at,
        a.created + make_interval(secs => a.fr_t * a.factor) AS fr_due,
        a.created + make_interval(secs => a.res_t * a.factor) AS res_due,
        a.created + make_interval(secs => a.res_cs * a.factor + a.pause) AS res_at,
        NOT a.active AND a.created + make_interval(secs => a.res_cs * a.factor + a.pause)
            <= CAST(:now AS timestamptz) AS resolved,
        (NOT a.active AND a.created + make_interval(secs => a.res_cs * a.factor + a.pause)
            <= CAST(:now AS timestamptz))
          OR (a.u_sub >= 0.3 AND a.created + make_interval(secs => a.fr_bs * a.factor)
            <= CAST(:now AS timestamptz)) AS answered,
        CAST(EXTRACT(EPOCH FROM CAST(:now AS timestamptz) - a.created) / a.factor AS integer)
            AS elapsed_bs
      FROM (
        SELECT x.g, x.u_sub, t.prefix, t.team_id, t.factor, t.step2, x.priority,
          rq.person_id AS requester_id, st.person_id AS staff_id,
          CASE WHEN x.u_cat < 0.04 THEN NULL
               ELSE t.categories[1 + floor(x.u_cat * 1000)::integer
                   % cardinality(t.categories)] END AS category,
          x.created, ss.first_response_seconds AS fr_t, ss.resolution_seconds AS res_t,
          CAST(ss.first_response_seconds * q.q * -ln(1 - x.u_fr) AS integer) AS fr_bs,
          GREATEST(
            CAST(ss.first_response_seconds * q.q * -ln(1 - x.u_fr) AS integer),
            CAST(ss.resolution_seconds * q.q * 0.9 * -ln(1 - x.u_res) AS integer)) AS res_cs,
          CASE WHEN x.u_wait < 0.2 THEN x.u_wait / 0.2 * 259200 ELSE 0 END AS pause,
          x.u_state < 0.10 + 0.75 * exp(
            -EXTRACT(EPOCH FROM CAST(:now AS timestamptz) - x.created) / 86400 / 20) AS active
        FROM (
          SELECT g, floor(random() * 1000)::integer AS team_bucket,
            floor(random() * 100)::integer AS dept_bucket,
            random() AS u_req, random() AS u_staff, random() AS u_cat,
            CASE WHEN random() < 0.05 THEN 'URGENT' ELSE
              (ARRAY['HIGH', 'HIGH', 'HIGH', 'HIGH', 'NORMAL', 'NORMAL', 'NORMAL', 'NORMAL',
                     'NORMAL', 'NORMAL', 'NORMAL', 'NORMAL', 'NORMAL', 'NORMAL', 'NORMAL',
                     'NORMAL', 'LOW', 'LOW', 'LOW'])[1 + floor(random() * 19)::integer]
            END AS priority,
            random() AS u_state, random() AS u_sub, random() AS u_fr, random() AS u_res,
            random() AS u_wait,
            CAST(:start AS timestamptz)
              + make_interval(secs => (g - 1 + random()) * CAST(:step AS double precision))
              AS created
          FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g
          OFFSET 0
        ) AS x
        JOIN bench_team_bucket tb ON tb.bucket = x.team_bucket
        JOIN bench_teams t ON t.idx = tb.team_idx
        JOIN bench_dept_bucket db ON db.bucket = x.dept_bucket
        JOIN bench_requesters rq ON rq.dept_idx = db.dept_idx
          AND rq.slot = floor(x.u_req * db.people)::integer
        JOIN bench_staff st ON st.team_id = t.team_id
          AND st.slot = floor(x.u_staff * t.staff)::integer
        JOIN service_standards ss ON ss.team_id = t.team_id AND ss.priority = x.priority
        CROSS JOIN LATERAL (
          -- a few department -> team pairs are served much worse: the matrix's worst cells
          SELECT t.quality * db.factor
            * CASE WHEN (db.dept_idx * 7 + t.idx * 3) % 19 = 0 THEN 1.9 ELSE 1 END AS q
        ) AS q
        OFFSET 0
      ) AS a
      OFFSET 0
    ) AS b
    OFFSET 0
  ) AS c
) AS s
"""

# Every warning (level 0) and ladder rung (1, 2) a request's clocks reached, from the
# stored columns; business time spent so far is wall time / the calendar's factor.
# One branch per (clock, level), each computing its instant only for the rows it keeps.
ESCALATION_BRANCH = """
SELECT id, '{clock}', {level}, {fired_at} FROM r WHERE {reached}"""
ESCALATION_BRANCHES = (
    ("FIRST_RESPONSE", 0, "created_at + make_interval(secs => fr_t * warn * factor)",
     "fr_spent >= fr_t * warn"),
    ("FIRST_RESPONSE", 1, "first_response_due_at", "fr_spent > fr_t"),
    ("FIRST_RESPONSE", 2, "first_response_due_at + make_interval(secs => step2 * factor)",
     "fr_spent > fr_t + step2"),
    ("RESOLUTION", 0, "created_at + make_interval(secs => res_t * warn * factor)",
     "res_spent >= res_t * warn"),
    ("RESOLUTION", 1, "created_at + make_interval(secs => res_t * factor)", "res_spent > res_t"),
    ("RESOLUTION", 2, "created_at + make_interval(secs => (res_t + step2) * factor)",
     "res_spent > res_t + step2"),
)  # fmt: skip
INSERT_ESCALATIONS = """
INSERT INTO escalations (request_id, clock, level, fired_at)
WITH r AS NOT MATERIALIZED (
  SELECT r.id, r.created_at, r.first_response_due_at, t.factor, t.step2,
    CAST(t.warn AS double precision) / 100 AS warn,
    r.first_response_target_seconds AS fr_t, r.resolution_target_seconds AS res_t,
    COALESCE(r.first_response_business_seconds, CAST(EXTRACT(
      EPOCH FROM CAST(:now AS timestamptz) - r.created_at) AS double precision) / t.factor)
      AS fr_spent,
    CASE WHEN r.resolution_running_since IS NULL THEN r.resolution_consumed_seconds
         ELSE r.resolution_consumed_seconds + CAST(EXTRACT(
           EPOCH FROM CAST(:now AS timestamptz) - r.resolution_running_since)
           AS double precision) / t.factor
    END AS res_spent
  FROM requests r JOIN bench_teams t ON t.team_id = r.team_id
)""" + "\nUNION ALL".join(
    ESCALATION_BRANCH.format(clock=clock, level=level, fired_at=fired_at, reached=reached)
    for clock, level, fired_at, reached in ESCALATION_BRANCHES
)

# A survey is sent on every resolution (handlers.survey.open_survey); ~40 % answer,
# worse when a standard was breached; ~15 % of the answers carry a comment.
INSERT_SURVEYS = """
INSERT INTO surveys (request_id, scale, sent_at, rating, comment, answered_at)
SELECT x.id, 5, x.resolved_at,
  CASE WHEN x.answered THEN x.rating END,
  CASE WHEN x.answered AND x.u_comment < 0.15 THEN
    CASE WHEN x.rating >= 4 THEN (CAST(:good AS text[]))[1 + floor(x.u_text * :n_good)::integer]
         WHEN x.rating = 3 THEN (CAST(:middling AS text[]))[1 + floor(x.u_text * :n_mid)::integer]
         ELSE (CAST(:bad AS text[]))[1 + floor(x.u_text * :n_bad)::integer] END
  END,
  CASE WHEN x.answered THEN LEAST(CAST(:now AS timestamptz),
    x.resolved_at + make_interval(secs => x.u_text * 172800)) END
FROM (
  SELECT r.id, r.resolved_at, random() < 0.4 AS answered, random() AS u_comment,
    random() AS u_text,
    GREATEST(1, 5 - floor(-ln(1 - random())
      * CASE WHEN r.escalation_level > 0 THEN 1.6 ELSE 0.7 END))::integer AS rating
  FROM requests r
  WHERE r.resolved_at IS NOT NULL
  OFFSET 0
) AS x
"""

# The audit log as the handlers write it: claimed (the first response), waiting /
# resumed, resolved, reopened (~3 % of resolved requests: resolved, reopened,
# resolved again), closed; `rated` comes from the surveys below.
INSERT_EVENTS = """
INSERT INTO request_events (request_id, at, actor_id, kind, data)
SELECT r.id, v.at, v.actor_id, v.kind, CAST('{}' AS json)
FROM (
  SELECT r.id, r.requester_id, r.assignee_id, r.status, r.created_at, r.first_response_at,
    r.resolved_at, r.closed_at, random() AS u,
    r.resolved_at - r.first_response_at AS span
  FROM requests r
  OFFSET 0
) AS r
CROSS JOIN LATERAL (VALUES
  ('claimed', r.first_response_at, r.assignee_id, r.first_response_at IS NOT NULL),
  ('waiting', r.first_response_at + r.span * 0.2, r.assignee_id,
   r.resolved_at IS NOT NULL AND r.u < 0.2),
  ('resumed', r.first_response_at + r.span * 0.4, r.requester_id,
   r.resolved_at IS NOT NULL AND r.u < 0.2),
  ('resolved', r.first_response_at + r.span * 0.6, r.assignee_id,
   r.resolved_at IS NOT NULL AND r.u >= 0.2 AND r.u < 0.23),
  ('reopened', r.first_response_at + r.span * 0.8, r.requester_id,
   r.resolved_at IS NOT NULL AND r.u >= 0.2 AND r.u < 0.23),
  ('resolved', r.resolved_at, r.assignee_id, r.resolved_at IS NOT NULL),
  ('closed', r.closed_at, NULL, r.closed_at IS NOT NULL),
  ('waiting', r.first_response_at, r.assignee_id, r.status = 'WAITING')
) AS v(kind, at, actor_id, wanted)
WHERE v.wanted
"""

INSERT_RATED_EVENTS = """
INSERT INTO request_events (request_id, at, actor_id, kind, data)
SELECT s.request_id, s.answered_at, r.requester_id, 'rated', json_build_object('rating', s.rating)
FROM surveys s JOIN requests r ON r.id = s.request_id
WHERE s.rating IS NOT NULL
"""

MIX = """
SELECT count(*) AS total,
  count(*) FILTER (WHERE status IN ('RESOLVED', 'CLOSED')) AS resolved,
  count(*) FILTER (WHERE status = 'OPEN') AS open,
  count(*) FILTER (WHERE status = 'IN_PROGRESS') AS in_progress,
  count(*) FILTER (WHERE status = 'WAITING') AS waiting,
  count(*) FILTER (WHERE resolved_at IS NOT NULL
    AND resolution_consumed_microseconds
      <= CAST(resolution_target_seconds AS bigint) * 1000000) AS within,
  count(*) FILTER (WHERE first_response_at IS NOT NULL) AS answered,
  count(*) FILTER (WHERE first_response_at <= first_response_due_at) AS answered_in_time,
  count(*) FILTER (WHERE escalation_level >= 1) AS escalated,
  count(*) FILTER (WHERE escalation_level = 2) AS escalated_2,
  (SELECT count(*) FROM surveys) AS surveys,
  (SELECT count(*) FROM surveys WHERE rating IS NOT NULL) AS rated,
  (SELECT avg(rating) FROM surveys) AS csat,
  (SELECT count(*) FROM surveys WHERE comment IS NOT NULL) AS comments,
  (SELECT count(*) FROM surveys WHERE rating = 5 AND comment IS NOT NULL) AS five_star_comments,
  (SELECT count(*) FROM escalations) AS escalations,
  (SELECT count(*) FROM request_events) AS events,
  (SELECT count(DISTINCT request_id) FROM request_events WHERE kind = 'reopened') AS reopened,
  (SELECT count(*) FROM people) AS people
FROM requests
"""


@dataclass
class Desk:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    requests: int
    teams: int


@dataclass
class Statement:
    label: str
    sql: str
    parameters: Any
    seconds: float


@dataclass
class Recorder:
    """Times every statement the engine sends while `on` (cursor execute = run + fetch)."""

    on: bool = False
    statements: list[Statement] = field(default_factory=list)

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def start(self) -> None:
        self.statements, self.on = [], True

    def stop(self) -> list[Statement]:
        self.on = False
        return self.statements

    def _before(
        self, _conn: Any, _cursor: Any, _sql: str, _params: Any, ctx: Any, _many: bool
    ) -> None:
        ctx.bench_began = time.perf_counter()

    def _after(
        self, _conn: Any, _cursor: Any, sql: str, params: Any, ctx: Any, _many: bool
    ) -> None:
        if self.on:
            seconds = time.perf_counter() - ctx.bench_began
            self.statements.append(Statement(label_of(sql), sql, params, seconds))


# --- helpers ----------------------------------------------------------------------------


def say(line: str = "") -> None:
    print(line, flush=True)


def load_average() -> str:
    """The machine's 1 / 5 / 15 minute load average: other work shares the cores."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def label_of(sql: str) -> str:
    """Which of insight()'s queries a statement is, from its text."""
    flat = " ".join(sql.split())
    if flat.startswith(("DELETE FROM insight_", "INSERT INTO insight_")):
        verb, _from, table = flat.split()[:3]
        return f"settle: {'upsert' if verb == 'INSERT' else 'delete emptied'} {table}"
    if flat.startswith("SELECT 0 AS source"):
        return "settle: the requests' figures now (every rollup, one SELECT)"
    if "insight_days" in flat:
        if "date_trunc" in flat:
            return "weekly points (daily rollup)"
        return "counts: filed/resolved/within/buckets/reopen (daily rollup)"
    checks = (
        ("FROM desk_settings", "desk settings"),
        ("insight_departments", "department-pair matrix (daily rollup)"),
        ("insight_durations", "percentiles, both clocks (weekly histograms)"),
        ("insight_tallies", "breaches by level / CSAT by rating (daily tallies)"),
        ("insight_categories", "top breached categories, settled (daily rollup)"),
        ("requests.category", "top breached categories, active (live)"),
        ("insight_people", "recognition (daily rollup)"),
        ("surveys.comment", "five-star comments (latest)"),
        ("requests.status IN", "backlog (active now)"),
        ("FROM teams", "teams"),
    )
    return next((label for needle, label in checks if needle in flat), flat[:60])


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> int:
    """Run one load statement in its own transaction, after setseed (repeatable random()).

    The rows are consistent by construction, so the foreign-key triggers are skipped
    for the load (session_replication_role = replica; the server runs as superuser).
    The planner cannot estimate joins on random draws; the joins run as written.
    """
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text("SET LOCAL join_collapse_limit = 1"))
        await connection.execute(text("SELECT setseed(:seed)"), {"seed": SEED})
        result = await connection.execute(text(statement), params)
        return int(result.rowcount or 0)


async def drop_indexes(engine: AsyncEngine) -> list[str]:
    """Drop the bulk tables' secondary indexes and unique constraints for the load
    (building them once afterwards is much faster than maintaining them row by row);
    returns the statements that put them back, as the migrations defined them."""
    async with engine.begin() as connection:
        constraints = (
            await connection.execute(
                text(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE contype = 'u' "
                    "AND conrelid::regclass::text = ANY(:tables) ORDER BY conname"
                ),
                {"tables": list(BULK_TABLES)},
            )
        ).all()
        indexes = (
            await connection.execute(
                text(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                    "FROM pg_index i WHERE i.indrelid::regclass::text = ANY(:tables) "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                    "  WHERE c.conindid = i.indexrelid) ORDER BY 1"
                ),
                {"tables": list(BULK_TABLES)},
            )
        ).all()
        for table, name, _definition in constraints:
            await connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        for name, _definition in indexes:
            await connection.execute(text(f"DROP INDEX {name}"))
    return [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition in constraints
    ] + [definition for _name, definition in indexes]


async def fetch(engine: AsyncEngine, statement: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(statement), params)).one()


async def autocommit(engine: AsyncEngine, *statements: str) -> None:
    async with engine.connect() as connection:
        conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in statements:
            await conn.execute(text(statement))


def catalog_yaml(teams: int) -> str:
    """40 teams (10 functions x 4 sites), 5 staff and a lead each, recognition on."""
    people: list[dict[str, Any]] = []
    specs: list[dict[str, Any]] = []
    chosen = [(f, s) for s in SITES for f in FUNCTIONS][:teams]
    for index, (function, site) in enumerate(chosen):
        key, name, prefix, categories, profile = function
        site_key, site_name, calendar = site
        team_key = f"{key}-{site_key}"
        staff = []
        for j in range(STAFF_PER_TEAM + 1):
            n = index * (STAFF_PER_TEAM + 1) + j
            email = f"{team_key}.{j}@example.com"
            display = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[n // len(FIRST_NAMES)]}"
            people.append({"email": email, "name": display, "department": name})
            staff.append(email)
        specs.append(
            {
                "key": team_key,
                "name": f"{name} {site_name}",
                "prefix": f"{prefix}{site_key.upper()}",
                "members": staff[:STAFF_PER_TEAM],
                "leads": staff[STAFF_PER_TEAM:],
                "calendar": "always" if key == "sec" else calendar,
                "categories": list(categories),
                "standards": STANDARDS[profile],
                "warn_at": "75%",
                "escalation": [
                    {"after": "0m", "notify": ["leads"]},
                    {"after": "2h" if profile == "fast" else "1d", "notify": ["members"]},
                ],
            }
        )
    catalog = {
        "calendars": CALENDARS,
        "people": people,
        "admins": [people[0]["email"]],
        "teams": specs,
        "survey": {"scale": 5, "reopen_below": 3, "auto_close_after": "3d"},
        "recognition": True,
    }
    return yaml.safe_dump(catalog, sort_keys=False)


def team_weights(teams: int) -> list[float]:
    """Unequal team sizes: the busiest team gets ~6x the requests of the quietest."""
    return [1 / (1 + ((i * 13) % teams) * 5 / teams) for i in range(teams)]


def buckets(weights: Sequence[float], size: int) -> list[int]:
    """`size` buckets, each the index of a weight, in proportion to the weights."""
    total = sum(weights)
    edges, running = [], 0.0
    for weight in weights:
        running += weight / total
        edges.append(running)
    out, i = [], 0
    for b in range(size):
        while i < len(edges) - 1 and (b + 0.5) / size > edges[i]:
            i += 1
        out.append(i)
    return out


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    """app.run_migrations, to a given revision (or back down to it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    (command.downgrade if down else command.upgrade)(config, revision)


def values(rows: Sequence[Sequence[Any]]) -> str:
    return ", ".join("(" + ", ".join(str(v) for v in row) + ")" for row in rows)


# --- the load ---------------------------------------------------------------------------


async def load(desk: Desk, requesters: int) -> None:
    say("== Load ==")
    engine, sessions = desk.engine, desk.sessions
    started = time.perf_counter()
    async with sessions.begin() as session:
        await apply_catalog(session, parse_catalog(catalog_yaml(desk.teams), "bench.yaml"))
    # Today's code applies the catalog to today's schema; the bulk rows then go in
    # at LOADED_AT, so the upgrade below times the backfill as a real upgrade runs it.
    url = engine.url.render_as_string(hide_password=False)
    await asyncio.to_thread(migrate, url, LOADED_AT, down=True)
    say(
        f"  catalog: {desk.teams} teams on {len(CALENDARS)} calendars, "
        f"{desk.teams * (STAFF_PER_TEAM + 1)} staff, 4 standards and a 2-rung ladder per team, "
        f"recognition on ({time.perf_counter() - started:.1f} s)"
    )
    # Requesters: equal numbers per department, every 25th without a department.
    names = [d[0] for d in DEPARTMENTS if d[0] is not None]
    await sql(
        engine,
        "INSERT INTO people (email, display_name, department, timezone, language, is_admin) "
        "SELECT 'requester' || g || '@example.com', "
        "  (CAST(:first AS text[]))[1 + g % cardinality(CAST(:first AS text[]))] || ' ' || "
        "  (CAST(:last AS text[]))[1 + (g / cardinality(CAST(:first AS text[]))) "
        "    % cardinality(CAST(:last AS text[]))] || ' ' || g, "
        "  CASE WHEN g % 25 = 0 THEN NULL "
        "    ELSE (CAST(:names AS text[]))[1 + g % cardinality(CAST(:names AS text[]))] END, "
        "  'Europe/Berlin', 'en', false "
        "FROM generate_series(1, CAST(:n AS integer)) AS g",
        first=list(FIRST_NAMES),
        last=list(LAST_NAMES),
        names=names,
        n=requesters,
    )
    # Small helper tables the set-based INSERTs join (dropped after the load).
    weights = team_weights(desk.teams)
    quality = [
        0.35 + 0.45 * ((i * 17) % desk.teams) / max(desk.teams - 1, 1) for i in range(desk.teams)
    ]
    chosen = [(f, s) for s in SITES for f in FUNCTIONS][: desk.teams]
    team_rows = []
    for i, (function, site) in enumerate(chosen):
        calendar = "always" if function[0] == "sec" else site[2]
        team_rows.append((f"'{function[0]}-{site[0]}'", i, quality[i], WALL_PER_BUSINESS[calendar]))
    dept_rows = [
        (i, f"'{name}'" if name else "NULL", factor)
        for i, (name, _s, factor) in enumerate(DEPARTMENTS)
    ]
    async with engine.begin() as connection:
        for statement in (
            "CREATE TABLE bench_team_bucket (bucket integer PRIMARY KEY, team_idx integer)",
            "INSERT INTO bench_team_bucket VALUES "
            + values(list(enumerate(buckets(weights, 1000)))),
            "CREATE TABLE bench_dept_bucket (bucket integer PRIMARY KEY, dept_idx integer)",
            "INSERT INTO bench_dept_bucket VALUES "
            + values(list(enumerate(buckets([d[1] for d in DEPARTMENTS], 100)))),
            "CREATE TABLE bench_departments AS SELECT v.idx, v.name, v.factor, "
            "  (SELECT count(*) FROM people p WHERE p.email LIKE 'requester%' "
            "     AND p.department IS NOT DISTINCT FROM v.name) AS people "
            f"FROM (VALUES {values(dept_rows)}) AS v(idx, name, factor)",
            "ALTER TABLE bench_dept_bucket ADD COLUMN people integer, ADD COLUMN factor float8",
            "UPDATE bench_dept_bucket b SET people = d.people, factor = d.factor "
            "FROM bench_departments d "
            "WHERE d.idx = b.dept_idx",
            "CREATE TABLE bench_requesters AS SELECT d.idx AS dept_idx, "
            "  row_number() OVER (PARTITION BY d.idx ORDER BY p.id) - 1 AS slot, "
            "  p.id AS person_id "
            "FROM people p JOIN bench_departments d "
            "  ON p.department IS NOT DISTINCT FROM d.name WHERE p.email LIKE 'requester%'",
            "CREATE TABLE bench_teams AS SELECT v.idx, t.id AS team_id, t.prefix, v.factor, "
            "  v.quality, t.warn_at_percent AS warn, "
            "  (SELECT after_seconds FROM escalation_steps e "
            "     WHERE e.team_id = t.id AND e.level = 2) AS step2, "
            "  ARRAY(SELECT json_array_elements_text(t.categories)) AS categories, "
            f"  {STAFF_PER_TEAM} AS staff "
            f"FROM (VALUES {values(team_rows)}) AS v(key, idx, quality, factor) "
            "JOIN teams t ON t.key = v.key",
            "CREATE TABLE bench_staff AS SELECT m.team_id, "
            "  row_number() OVER (PARTITION BY m.team_id ORDER BY m.person_id) - 1 AS slot, "
            "  m.person_id FROM memberships m WHERE m.role = 'MEMBER'",
        ):
            await connection.execute(text(statement))
    await autocommit(engine, "ANALYZE")
    recreate = await drop_indexes(engine)
    step = 365 * 86400 / desk.requests
    began = time.perf_counter()
    for lo in range(1, desk.requests + 1, LOAD_CHUNK):
        hi = min(desk.requests, lo + LOAD_CHUNK - 1)
        await sql(engine, INSERT_REQUESTS, lo=lo, hi=hi, start=YEAR_START, step=step, now=YEAR_END)
    await sql(
        engine,
        "UPDATE teams SET last_number = coalesce("
        "(SELECT max(number) FROM requests r WHERE r.team_id = teams.id), 0)",
    )
    say(
        f"  requests: {desk.requests:,} filed {YEAR_START:%Y-%m-%d} .. {YEAR_END:%Y-%m-%d}, "
        f"{requesters:,} requesters in {len(names)} departments (+4 % without): "
        f"{time.perf_counter() - began:.1f} s"
    )
    for name, statement, params in (
        ("escalations", INSERT_ESCALATIONS, {"now": YEAR_END}),
        (
            "surveys",
            INSERT_SURVEYS,
            {
                "now": YEAR_END,
                "good": list(COMMENTS["good"]),
                "middling": list(COMMENTS["middling"]),
                "bad": list(COMMENTS["bad"]),
                "n_good": len(COMMENTS["good"]),
                "n_mid": len(COMMENTS["middling"]),
                "n_bad": len(COMMENTS["bad"]),
            },
        ),
        ("request events", INSERT_EVENTS, {}),
        ("rated events", INSERT_RATED_EVENTS, {}),
    ):
        began = time.perf_counter()
        rows = await sql(engine, statement, **params)
        say(f"  {name}: {rows:,} rows, {time.perf_counter() - began:.1f} s")
    async with engine.begin() as connection:
        for table in ("team_bucket", "dept_bucket", "departments", "requesters", "teams", "staff"):
            await connection.execute(text(f"DROP TABLE bench_{table}"))
    began = time.perf_counter()
    await autocommit(engine, *recreate)
    say(
        f"  {len(recreate)} secondary indexes and unique constraints of "
        f"{', '.join(BULK_TABLES)} (dropped for the load) built: "
        f"{time.perf_counter() - began:.1f} s"
    )
    began = time.perf_counter()
    url = engine.url.render_as_string(hide_password=False)
    await asyncio.to_thread(migrate, url, "head")
    rollups = await fetch(
        engine,
        "SELECT (SELECT count(*) FROM insight_days), (SELECT count(*) FROM insight_departments), "
        "(SELECT count(*) FROM insight_tallies), "
        "(SELECT count(*) FROM insight_categories), (SELECT count(*) FROM insight_people), "
        "(SELECT count(*) FROM insight_durations)",
    )
    say(
        f"  upgrade {LOADED_AT} -> head, backfilling reopen_count and the rollups: "
        f"{time.perf_counter() - began:.1f} s; rows: days {rollups[0]:,}, departments "
        f"{rollups[1]:,}, tallies {rollups[2]:,}, categories {rollups[3]:,}, people "
        f"{rollups[4]:,}, duration histograms {rollups[5]:,}"
    )
    began = time.perf_counter()
    await autocommit(engine, "VACUUM ANALYZE", "CHECKPOINT")
    say(f"  VACUUM ANALYZE, CHECKPOINT: {time.perf_counter() - began:.1f} s")
    say(f"  load total: {time.perf_counter() - started:.1f} s")
    await describe(desk)


async def describe(desk: Desk) -> None:
    mix = await fetch(desk.engine, MIX)

    def share(part: int, whole: int) -> str:
        return f"{part / whole * 100:.1f} %" if whole else "-"

    say(
        f"  status: resolved/closed {share(mix.resolved, mix.total)}, open "
        f"{share(mix.open, mix.total)}, in progress {share(mix.in_progress, mix.total)}, "
        f"waiting {share(mix.waiting, mix.total)}"
    )
    say(
        f"  standards: resolved within {share(mix.within, mix.resolved)}; first response in "
        f"time {share(mix.answered_in_time, mix.answered)} of {mix.answered:,} answered; "
        f"a ladder rung reached {share(mix.escalated, mix.total)} (rung 2: "
        f"{share(mix.escalated_2, mix.total)})"
    )
    say(
        f"  surveys: {mix.surveys:,} sent, {share(mix.rated, mix.surveys)} answered, CSAT "
        f"{float(mix.csat or 0):.2f}, {mix.comments:,} comments, {mix.five_star_comments:,} "
        "five-star with a comment"
    )
    say(
        f"  reopened: {mix.reopened:,} ({share(mix.reopened, mix.resolved)} of resolved); "
        f"escalation rows {mix.escalations:,}; request events {mix.events:,}; "
        f"people {mix.people:,}"
    )
    async with desk.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT relname, pg_relation_size(oid), pg_indexes_size(oid) FROM pg_class "
                    "WHERE relname IN ('requests', 'request_events', 'surveys', 'escalations', "
                    "'people') ORDER BY pg_relation_size(oid) DESC"
                )
            )
        ).all()
    say(
        "  sizes (table + indexes): "
        + ", ".join(
            f"{name} {table / 2**20:,.0f} + {index / 2**20:,.0f} MB" for name, table, index in rows
        )
    )
    say()


# --- timing -----------------------------------------------------------------------------


@dataclass
class Runs:
    report: list[float] = field(default_factory=list)
    matrix: list[float] = field(default_factory=list)
    count: list[float] = field(default_factory=list)
    statements: list[list[Statement]] = field(default_factory=list)
    team: str | None = None  # the team filter, if any


async def timed_report(
    desk: Desk, recorder: Recorder, since: datetime, until: datetime, team: str | None = None
) -> tuple[float, Insight, list[Statement]]:
    async with desk.sessions() as session:
        recorder.start()
        began = time.perf_counter()
        result = await insight(session, since=since, until=until, now=YEAR_END, team=team)
        elapsed = time.perf_counter() - began
        return elapsed, result, recorder.stop()


async def timed_matrix(desk: Desk, since: datetime, until: datetime) -> float | None:
    """The department-pair matrix alone, as insight() asks for it (teams, then the cells)."""
    async with desk.sessions() as session:
        began = time.perf_counter()
        teams = await active_teams(session)
        period = Period(tuple(t.id for t in teams), since, until, "postgresql")
        await department_matrix(session, {t.id: t for t in teams}, period)
        return time.perf_counter() - began


async def timed_count(desk: Desk) -> float:
    async with desk.sessions() as session:
        began = time.perf_counter()
        await session.scalar(text("SELECT count(*) FROM requests"))
        return time.perf_counter() - began


async def year_phase(desk: Desk, recorder: Recorder, runs: int) -> Runs:
    say("== Full report over the year: (a) insight(), (b) matrix alone, (c) count(*) ==")
    say(
        f"  insight(session, since={YEAR_START:%Y-%m-%d}, until={YEAR_END:%Y-%m-%d}, now=until): "
        "all teams, matrix, recognition, five-star comments, weekly"
    )
    say(
        f"  load average before the runs: {load_average()} (1 / 5 / 15 min, {os.cpu_count()} cores)"
    )
    elapsed, result, _statements = await timed_report(desk, recorder, YEAR_START, YEAR_END)
    await timed_matrix(desk, YEAR_START, YEAR_END)
    await timed_count(desk)
    say(
        f"  warm-up: {ms(elapsed)}; {len(result.teams)} teams, "
        f"{sum(t.filed for t in result.teams):,} filed, {len(result.matrix)} matrix cells, "
        f"{len(result.recognition or [])} people recognised, "
        f"{len(result.five_stars or []):,} five-star comments, {len(result.weekly):,} weekly points"
    )
    for cell in result.worst:
        say(f"    worst cell: {worst_cell_sentence(cell)}")
    found = Runs()
    for _run in range(runs):
        elapsed, _result, statements = await timed_report(desk, recorder, YEAR_START, YEAR_END)
        found.report.append(elapsed)
        found.statements.append(statements)
        matrix = await timed_matrix(desk, YEAR_START, YEAR_END)
        if matrix is not None:
            found.matrix.append(matrix)
        found.count.append(await timed_count(desk))
    say()
    say(f"  {'run':>5}  {'(a) report':>12}  {'(b) matrix':>12}  {'(c) count(*)':>12}")
    for i in range(runs):
        matrix_text = ms(found.matrix[i]) if found.matrix else "-"
        say(f"  {i + 1:>5}  {ms(found.report[i]):>12}  {matrix_text:>12}  {ms(found.count[i]):>12}")
    report = statistics.median(found.report)
    count = statistics.median(found.count)
    matrix_median = statistics.median(found.matrix) if found.matrix else None
    say(
        f"  {'median':>5}  {ms(report):>12}  "
        f"{ms(matrix_median) if matrix_median is not None else '-':>12}  {ms(count):>12}"
    )
    say()
    say(f"  ratio report / count(*): {report / count:,.1f}x")
    if matrix_median is not None:
        say(f"  ratio matrix / count(*): {matrix_median / count:,.1f}x")
    say(
        f"  (a) full report median {ms(report)} (target under {TARGET_S:.0f} s): "
        f"{verdict(report < TARGET_S)}"
    )
    if matrix_median is not None:
        say(
            f"  (b) department-pair matrix median {ms(matrix_median)} "
            f"(target under {TARGET_S:.0f} s): {verdict(matrix_median < TARGET_S)}"
        )
    else:
        say("  (b) the matrix is not separable from insight() any more; (a) only")
    say()
    return found


async def team_phase(desk: Desk, recorder: Recorder, runs: int) -> Runs:
    since = YEAR_END - timedelta(days=TEAM_DAYS)
    async with desk.engine.connect() as connection:
        key, filed, total = (
            await connection.execute(
                text(
                    "SELECT t.key, count(*) FILTER (WHERE r.created_at >= :since), count(*) "
                    "FROM requests r JOIN teams t ON t.id = r.team_id "
                    "GROUP BY t.key ORDER BY 2 DESC, 1 LIMIT 1"
                ),
                {"since": since},
            )
        ).one()
    say(f"== One team, last {TEAM_DAYS} days (the `stats` command: team filter, 30 days) ==")
    say(
        f"  insight(team={key!r}, since=now-{TEAM_DAYS}d): the busiest team, "
        f"{filed:,} requests filed in the period, {total:,} in the year"
    )
    await timed_report(desk, recorder, since, YEAR_END, key)
    found = Runs(team=key)
    for _run in range(runs):
        elapsed, _result, statements = await timed_report(desk, recorder, since, YEAR_END, key)
        found.report.append(elapsed)
        found.statements.append(statements)
    say(
        f"  runs: {', '.join(ms(s) for s in found.report)}; median "
        f"{ms(statistics.median(found.report))}"
    )
    say()
    return found


def per_label(runs: Runs) -> list[tuple[str, float]]:
    """Median seconds per query label across the runs, slowest first."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for statements in runs.statements:
        summed: dict[str, float] = defaultdict(float)
        for statement in statements:
            summed[statement.label] += statement.seconds
        for label, value in summed.items():
            seconds[label].append(value)
    medians = [(label, statistics.median(values)) for label, values in seconds.items()]
    return sorted(medians, key=lambda item: -item[1])


def show_breakdown(title: str, runs: Runs) -> None:
    report = statistics.median(runs.report)
    labels = per_label(runs)
    outside = statistics.median(
        total - sum(s.seconds for s in statements)
        for total, statements in zip(runs.report, runs.statements, strict=True)
    )
    count = len(runs.statements[-1])
    say(f"  {title}: {count} statements, median per query as sent (incl. fetch), share of report:")
    for label, seconds in labels:
        say(f"    {ms(seconds):>10}  {seconds / report * 100:5.1f} %  {label}")
    outside = max(outside, 0)
    say(f"    {ms(outside):>10}  {outside / report * 100:5.1f} %  outside SQL (ORM, Python)")


async def explain(desk: Desk, statement: Statement, max_lines: int = 60) -> None:
    say(
        f"  EXPLAIN (ANALYZE, BUFFERS) {statement.label} "
        f"({ms(statement.seconds)} as sent in the last run):"
    )
    async with desk.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        rows = await driver.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", *(statement.parameters or ())
        )
    plan = [row[0] for row in rows]
    for line in plan[:max_lines]:
        say(f"    {line}")
    if len(plan) > max_lines:
        say(f"    ... ({len(plan) - max_lines} more lines)")


def captured(runs: Runs, prefix: str) -> Statement | None:
    return next((s for s in runs.statements[-1] if s.label.startswith(prefix)), None)


async def where_the_time_goes(desk: Desk, year: Runs, team: Runs) -> None:
    say("== Where the time goes ==")
    show_breakdown("full report over the year", year)
    show_breakdown(f"one team, last {TEAM_DAYS} days", team)
    say()
    # The slowest by median, each as the last run sent it (one run alone may be an outlier).
    for label, _seconds in per_label(year)[:SLOWEST_EXPLAINED]:
        statement = captured(year, label)
        if statement is not None:
            await explain(desk, statement)
    say()


# --- keeping the rollups fresh ---------------------------------------------------------

FRESH_SIZES = (1, 100)  # one action's commit; a sweep batch of escalations


async def freshness(desk: Desk, recorder: Recorder, runs: int) -> None:
    """What a commit pays to keep the rollups fresh (handlers.insight_rollup): taking
    the requests it changes (their figures before) and settling at the commit (their
    figures after, and the difference added), here for requests spread over the
    year, each reopened once more (requests.reopen_count), rolled back after each run."""
    say("== Keeping the rollups fresh: what a commit adds, by delta ==")
    async with desk.engine.connect() as connection:
        ids = list(
            (
                await connection.execute(
                    text("SELECT id FROM requests ORDER BY md5(id::text) LIMIT :n"),
                    {"n": max(FRESH_SIZES)},
                )
            ).scalars()
        )
    for size in FRESH_SIZES:
        took, settled = [], []
        for _run in range(runs + 1):
            async with desk.sessions() as session:
                requests = list(
                    (
                        await session.scalars(
                            select(Request)
                            .where(Request.id.in_(ids[:size]))
                            .with_for_update(of=Request)
                        )
                    ).unique()
                )
                began = time.perf_counter()
                await insight_rollup.take(session, requests)
                took.append(time.perf_counter() - began)
                for request in requests:
                    request.reopen_count += 1
                await session.flush()
                recorder.start()
                began = time.perf_counter()
                await session.run_sync(insight_rollup.settle)
                settled.append(time.perf_counter() - began)
                statements = recorder.stop()
                await session.rollback()
        took, settled = took[1:], settled[1:]
        for statement in statements:
            say(f"    {ms(statement.seconds):>10}  {statement.label}")
        say(
            f"  {size:>3} request(s) changed: take {ms(statistics.median(took))}, "
            f"settle at the commit {ms(statistics.median(settled))} (medians)"
        )
    say()


# --- main -------------------------------------------------------------------------------


async def run(url: str, requests: int, teams: int, requesters: int, runs: int) -> None:
    engine = build_engine(url)
    recorder = Recorder()
    recorder.attach(engine)
    try:
        desk = Desk(engine, build_sessions(engine), requests, teams)
        async with engine.connect() as connection:
            settings = [
                (await connection.execute(text(f"SHOW {name}"))).scalar()
                for name in (
                    "server_version",
                    "shared_buffers",
                    "work_mem",
                    "max_parallel_workers_per_gather",
                )
            ]
        say(
            f"server: PostgreSQL {settings[0]}; shared_buffers {settings[1]}, work_mem "
            f"{settings[2]}, max_parallel_workers_per_gather {settings[3]}"
        )
        say()
        await load(desk, requesters)
        year = await year_phase(desk, recorder, runs)
        team = await team_phase(desk, recorder, runs)
        await where_the_time_goes(desk, year, team)
        await freshness(desk, recorder, runs)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="100k requests, 10 teams")
    parser.add_argument("--requests", type=int, help=f"requests to load (default {REQUESTS:,})")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs after the warm-up")
    args = parser.parse_args(argv)
    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    teams = QUICK_TEAMS if args.quick else TEAMS
    requesters = QUICK_REQUESTERS if args.quick else REQUESTERS
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    say("Inhouse insight report benchmark (PostgreSQL)")
    say(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; {requests:,} requests, {teams} teams, "
        f"{args.runs} timed runs"
    )
    started = time.perf_counter()
    server = postgres_server.start()
    try:
        url = f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/postgres"
        say(f"PostgreSQL: throwaway server on {server.host}:{server.port} (fsync off)")
        migrate(url, "head")
        asyncio.run(run(url, requests, teams, requesters, args.runs))
    except Exception:
        traceback.print_exc()
        say(f"bench crashed after {time.perf_counter() - started:.0f} s")
        return 1
    finally:
        server.stop()
    say(f"total bench time: {time.perf_counter() - started:.0f} s; load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
