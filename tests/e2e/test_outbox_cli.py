"""`inhouse outbox list / retry`: what an operator sees of undelivered notices, and
the settings that say how long outages are retried."""

from __future__ import annotations

import re
import sqlite3

from tests.e2e.cli import Inhouse, describe, flat
from tests.e2e.test_serve import serving


def test_outbox_list_shows_dead_letters_with_reasons_and_retry_requeues(desk: Inhouse) -> None:
    desk.chat("luca@example.com", "/request it Printer on fire", "/request finance Invoice")
    # What the database holds after Slack refused IT-1's card for good (a platform's
    # text, brackets and all, is shown as it is).
    with sqlite3.connect(desk.db) as connection:
        connection.execute(
            "UPDATE outbox SET dead_at = created_at, attempts = 1,"
            " error_code = 'channel_not_found', last_error = 'Slack: channel_not_found [red]'"
            " WHERE id = 1"
        )
    listed = flat(desk.ok("outbox", "list"))
    assert (
        "#1 team_card IT-1 → #it · dead letter · 1 attempt "
        "channel_not_found: Slack: channel_not_found [red]"
    ) in listed, listed
    assert re.search(
        r"#2 team_card FIN-1 → #finance · queued · 0 attempts · next try \d{4}-\d\d-\d\d ", listed
    ), listed
    assert "dead letter: 1 · queued: 1" in listed

    dead_only = flat(desk.ok("outbox", "list", "--dead"))
    assert "IT-1" in dead_only and "FIN-1" not in dead_only

    assert "Notice 1 is queued again." in desk.ok("outbox", "retry", "1")
    again = flat(desk.ok("outbox", "list"))
    assert re.search(r"#1 team_card IT-1 → #it · queued · 0 attempts · next try \d{4}-", again)
    assert "There are no dead letters." in desk.ok("outbox", "list", "--dead")


def test_a_bad_retry_horizon_is_refused_with_its_name(desk: Inhouse) -> None:
    desk.extra_env["OUTBOX_RETRY_HORIZON"] = "5s"
    result = desk.run("outbox", "list")
    assert result.returncode == 2, describe(result)
    assert (
        "The setting OUTBOX_RETRY_HORIZON is not valid: expected between 1m and 30d, got '5s'"
        in result.stdout
    ), describe(result)
    assert "Traceback" not in result.stdout + result.stderr


def test_serve_says_the_attempt_limit_is_deprecated(desk: Inhouse) -> None:
    desk.extra_env.update(OUTBOX_MAX_ATTEMPTS="3", OUTBOX_RETRY_HORIZON="2h")
    with serving(desk, "--no-scheduler") as server:
        assert server.stop() == 0
    assert re.search(
        r"WARNING inhouse: OUTBOX_MAX_ATTEMPTS is deprecated: use OUTBOX_RETRY_HORIZON",
        server.log,
    ), server.log
