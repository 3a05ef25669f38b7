"""`bench.filing` on a burst of three: what it counts is what the desk did.

The bench's figures are only worth quoting if its counting is right, so this runs
one repeat of it (signed HTTP into the real app, the use case directly, the plain
inserts, the dispatcher against the fake Slack) and checks the counts against what
is known: three requests filed, carded and answered; the floor's three inserts in
one transaction per request. No timing is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.filing import ORDER, measure, summary
from bench.filing_measure import Databases, PostgresDatabases, SqliteDatabases
from tests import postgres_server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    if request.param == "sqlite":
        return SqliteDatabases(tmp_path)
    server: postgres_server.PostgresServer = request.getfixturevalue("pg_server")
    return PostgresDatabases(server.host, server.port, server.user)


async def test_one_repeat_of_three_counts_what_the_desk_did(
    databases: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    await databases.prepare()
    try:
        (runs,) = await measure(databases, 3, 1)
    finally:
        await databases.close()

    assert [len(runs[v]) for v in ("http", "direct", "floor")] == [1, 1, ORDER.count("floor")]
    http, direct = runs["http"][0], runs["direct"][0]
    # Every command acknowledged, filed once, answered with its key and carded once.
    assert (http.n, http.problems) == (3, [])
    assert (direct.n, direct.problems) == (3, [])
    # One request, one audit event, one team card per filing; over HTTP also the
    # queued answer; the statements the desk sends beside them are counted too.
    for filing, outbox_rows in ((http, 6), (direct, 3)):
        counts = filing.counted.by_label
        assert counts["INSERT requests"] == 3
        assert counts["INSERT request_events"] == 3
        # The card and (over HTTP) the answer may go in one multi-row INSERT.
        assert outbox_rows / 2 <= counts["INSERT outbox"] <= outbox_rows
        assert filing.counted.statements > sum(
            counts[label] for label in ("INSERT requests", "INSERT request_events", "INSERT outbox")
        )
    # What a quick-file costs (bench/README.md, "Where the statements go"): no
    # savepoint, the team, its standard and calendar from the process's copy, the
    # person too (they filed in the warm-up), the request inserted as it stays. A
    # regression here fails.
    for filing in (http, direct):
        counts = filing.counted.by_label
        for gone in (
            "SAVEPOINT",
            "SELECT teams",
            "SELECT service_standards",
            "SELECT people",
            "UPDATE requests",
        ):
            assert counts[gone] == 0, gone
        # The copy is checked by the counter's own statement; a SELECT of the
        # generation only when none was filed for a second (a slow machine).
        assert counts["SELECT catalog_generation"] <= 1
    inbox = ("INSERT pending_commands", "SELECT pending_commands", "SELECT catalog_generation")
    assert direct.counted.statements - direct.counted.by_label["SELECT catalog_generation"] == 7 * 3
    # Over HTTP also the take (one UPDATE pending_commands: the done row is the
    # record that recognises a repeat); the answer shares the card's INSERT outbox.
    assert http.counted.statements - sum(http.counted.by_label[label] for label in inbox) <= 8 * 3
    assert http.counted.by_label["INSERT inbound_keys"] == 0

    # HTTP: the commands went through the inbox, filed by the pump in its own transactions.
    assert http.counted.by_label["UPDATE pending_commands"] == 3
    assert direct.counted.transactions == 3
    # After each burst the dispatcher delivered exactly what it queued.
    assert http.delivery is not None and direct.delivery is not None
    assert (http.delivery.cards, http.delivery.answers, http.delivery.dead) == (3, 3, 0)
    assert (direct.delivery.cards, direct.delivery.answers, direct.delivery.dead) == (3, 0, 0)
    # Three cards to one channel, claimed in one batch: the claim (one UPDATE ...
    # RETURNING) and its reads of the team and the living messages, once; per card
    # one outbox UPDATE (its outcome shares the statement that marks the next one in
    # flight; the first card's mark and the last one's outcome have their own) and
    # two upserts; and the second round's empty claim. 14 for three cards, ~3.2 a
    # card in batches of 20 (bench/README.md): more means a read or a write per
    # notice came back.
    delivered = direct.delivery.counted.by_label
    assert delivered["INSERT thread_links"] == delivered["INSERT message_refs"] == 3
    assert delivered["UPDATE outbox"] == 2 + 4
    assert delivered["SELECT outbox"] == delivered["SELECT thread_links"] == 0
    assert delivered["SELECT message_refs"] == 1 and delivered["SELECT teams"] <= 1
    assert direct.delivery.counted.statements <= 14
    assert direct.delivery.counted.transactions <= 2 + 4
    # The floor is exactly the three plain inserts, one transaction per request.
    for floor in runs["floor"]:
        assert floor.problems == []
        assert dict(floor.counted.by_label) == {
            "INSERT requests": 3,
            "INSERT request_events": 3,
            "INSERT outbox": 3,
        }
        assert floor.counted.transactions == 3

    verdicts = summary(databases.label, [runs])
    assert verdicts[-1].endswith("carded once): PASS")
    printed = capsys.readouterr().out
    assert "statements per quick-file filing" in printed
    assert "| `INSERT requests` | 1.00 | 1.00 | 1.00 |" in printed
