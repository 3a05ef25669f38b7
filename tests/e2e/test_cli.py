"""The administrator's commands: migrate, catalog, outbox, report."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from tests.e2e.cli import EXAMPLE_CATALOG, ROOT, Inhouse, describe, flat

BROKEN_CATALOG = """\
calendars:
  office: {timezone: Europe/Berlin, hours: {mon-fri: "09:00-17:00"}}
teams:
  - key: it
    name: IT Service Desk
    members: [alice@example.com]
    calendar: ofice
    standards:
      normal: {first_response: 4 hours, resolution: 3d}
  - key: it
    name: IT again
    members: [bob@example.com]
    calendar: office
    standards:
      normal: {first_response: 4h, resolution: 3d}
"""

BROKEN_PROBLEMS = [
    "broken.yaml: teams[0].calendar: unknown calendar 'ofice'; expected one of: office",
    "broken.yaml: teams[0].standards.normal.first_response: expected a duration like 45s, "
    "30m, 4h or 2d, got '4 hours'",
    "broken.yaml: teams[1].key: team key 'it' is already used by teams[0]",
]


# --- migrate --------------------------------------------------------------------------


def test_migrate_twice_on_the_same_file(inhouse: Inhouse) -> None:
    for _run in (1, 2):
        out = inhouse.ok("migrate")
        assert "Database is up to date." in out
    tables = {name for (name,) in inhouse.query("SELECT name FROM sqlite_master")}
    assert {"teams", "requests", "outbox", "request_events"} <= tables
    assert len(inhouse.query("SELECT version_num FROM alembic_version")) == 1
    assert inhouse.query("SELECT count(*) FROM teams") == [(0,)]


# --- catalog check / apply ------------------------------------------------------------


def test_catalog_check_accepts_the_example(inhouse: Inhouse) -> None:
    out = inhouse.ok("catalog", "check", "models/catalogs/example.yaml", cwd=ROOT)
    assert "models/catalogs/example.yaml is valid: 4 teams, 15 people, 2 calendars." in out
    assert not inhouse.db.exists(), "a check must not create the database"


def test_broken_catalog_lists_every_problem_and_writes_nothing(inhouse: Inhouse) -> None:
    (inhouse.workdir / "broken.yaml").write_text(BROKEN_CATALOG)
    for verb in ("check", "apply"):
        result = inhouse.run("catalog", verb, "broken.yaml")
        assert result.returncode != 0, describe(result)
        out = flat(result.stdout)
        for problem in BROKEN_PROBLEMS:
            assert problem in out, f"catalog {verb}: missing {problem!r}\n{out}"
        assert re.search(r"\b3 problem(s|\(s\)) found; nothing was written\.", out), out
        assert "Traceback" not in result.stdout + result.stderr, describe(result)
    assert not inhouse.db.exists(), "a refused catalog must not create the database"


def test_catalog_apply_is_idempotent_and_reports_changes(inhouse: Inhouse) -> None:
    first = flat(inhouse.ok("catalog", "apply", str(EXAMPLE_CATALOG)))
    assert "teams added: it, hr, finance, facilities" in first
    assert "calendars added: office, facilities" in first
    assert "aliases added: computer, helpdesk, laptop" in first

    again = flat(inhouse.ok("catalog", "apply", str(EXAMPLE_CATALOG)))
    assert again == f"Nothing to change: the database already matches {EXAMPLE_CATALOG}."

    changed = inhouse.workdir / "catalog.yaml"
    text = EXAMPLE_CATALOG.read_text()
    old = "aliases: [helpdesk, computer, laptop]"
    assert old in text
    changed.write_text(text.replace(old, "aliases: [helpdesk, computer, laptop, printer]"))
    third = flat(inhouse.ok("catalog", "apply", "catalog.yaml"))
    assert third == "aliases added: printer"

    # The new alias works for the people filing requests.
    seen = inhouse.chat("luca@example.com", "/request printer Toner is empty")
    assert "Filed IT-1: Toner is empty. IT Service Desk aims to respond by" in seen


def test_catalog_problem_with_brackets_is_reported_verbatim(inhouse: Inhouse) -> None:
    (inhouse.workdir / "brackets.yaml").write_text(
        BROKEN_CATALOG.replace("calendar: ofice", 'calendar: "[/weekdays]"')
    )
    result = inhouse.run("catalog", "check", "brackets.yaml")
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    assert result.returncode == 1, describe(result)
    assert "teams[0].calendar: unknown calendar '[/weekdays]'" in flat(result.stdout)


ADMINS_CATALOG = """\
calendars:
  always: 24x7
people:
  - {email: dana@example.com, name: "Dana [/ops]", department: Operations}
admins: [dana@example.com]
teams:
  - key: ops
    name: Operations
    members: [dana@example.com]
    calendar: always
    standards:
      normal: {first_response: 1h, resolution: 1d}
"""


def test_catalog_apply_reports_names_with_brackets(inhouse: Inhouse) -> None:
    (inhouse.workdir / "admins.yaml").write_text(ADMINS_CATALOG)
    result = inhouse.run("catalog", "apply", "admins.yaml")
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    assert result.returncode == 0, describe(result)
    assert "admins: Dana [/ops]" in flat(result.stdout)


# --- outbox and report ----------------------------------------------------------------


def test_outbox_on_a_fresh_database(inhouse: Inhouse) -> None:
    listed = inhouse.ok("outbox", "list")
    assert "The outbox is empty: every notice was delivered." in listed

    retried = inhouse.run("outbox", "retry", "999")
    assert retried.returncode != 0, describe(retried)
    assert "There is no undelivered notice 999." in retried.stdout
    assert "Traceback" not in retried.stderr, describe(retried)


def test_report_shows_team_names_verbatim(inhouse: Inhouse) -> None:
    catalog = inhouse.workdir / "ops.yaml"
    catalog.write_text(
        "calendars:\n  always: 24x7\nteams:\n  - key: ops\n    name: Ops [eu]\n"
        "    members: [alice@example.com]\n    calendar: always\n"
        "    standards:\n      normal: {first_response: 4h, resolution: 3d}\n"
    )
    inhouse.ok("catalog", "apply", "ops.yaml")
    assert inhouse.query("SELECT name FROM teams") == [("Ops [eu]",)]
    assert "Ops [eu]" in inhouse.ok("report")
    unknown = inhouse.run("report", "--team", "[/ops]")
    assert unknown.returncode == 1, describe(unknown)
    assert "There is no team called '[/ops]'." in unknown.stdout, describe(unknown)


def test_recount_gives_reports_the_figures_of_the_requests_back(
    inhouse: Inhouse, example_desk_db: Path
) -> None:
    inhouse.adopt(example_desk_db)
    inhouse.chat("luca@example.com", "/request it Printer on fire", "/request hr Payslip missing")
    # A period of whole days, which the report reads from the figures kept (the
    # partial day up to now it counts from the requests themselves).
    (day,) = {str(filed) for (filed,) in inhouse.query("SELECT date(created_at) FROM requests")}
    period = ("--since", day, "--until", str(date.fromisoformat(day) + timedelta(days=1)))
    before = _figures(inhouse, *period)
    assert before["it"]["filed"] == before["hr"]["filed"] == "1"
    # An admin changed rows by hand (or restored the figures from another backup):
    # the report no longer matches its requests.
    connection = sqlite3.connect(inhouse.db)
    try:
        for table in ("insight_days", "insight_departments", "insight_tallies"):
            connection.execute(f"DELETE FROM {table}")
        connection.commit()
    finally:
        connection.close()
    assert _figures(inhouse, *period) != before

    assert "Report figures recounted from 2 requests." in inhouse.ok("recount")
    assert _figures(inhouse, *period) == before
    assert "Report figures recounted from 2 requests." in inhouse.ok("recount")  # again


def _figures(inhouse: Inhouse, *period: str) -> dict[str, dict[str, str]]:
    """The report's CSV by team, without the one column that moves with the clock."""
    rows = csv.DictReader(io.StringIO(inhouse.ok("report", "--format", "csv", *period)))
    return {
        row["team"]: {k: v for k, v in row.items() if k != "backlog_oldest_age_seconds"}
        for row in rows
    }
