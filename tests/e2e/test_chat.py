"""Several people using the desk from their terminals with `inhouse chat`.

One story, played once on its own database (each step is a separate `chat`
process, as separate people at separate keyboards would be):

1. Luca (Sales) files "Printer on fire", mistypes a team, sends an empty
   request, mistypes a command, then files "Monitor flickers" with the
   step-by-step form, where a wrong answer is asked again.
2. The admin looks at the outbox and requeues the IT channel's notice.
3. Alice (IT) sees the new requests in her team's channel and queue, claims IT-1.
4. Maria (Marketing, not on IT) tries to claim IT-1 too.
5. Luca opens his terminal again and finds Alice's notice waiting for him.
6. The admin prints the report as CSV.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli import Inhouse, flat

LUCA, ALICE, MARIA = "luca@example.com", "alice@example.com", "maria@example.com"


@dataclass(frozen=True)
class Story:
    luca_files: str
    outbox_before: str
    retried: str
    alice: str
    maria: str
    luca_returns: str
    report_csv: str


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, example_desk_db: Path) -> Story:
    desk = Inhouse(tmp_path_factory.mktemp("chat-story"))
    desk.adopt(example_desk_db)
    luca_files = desk.chat(
        LUCA,
        "/request it Printer on fire",
        "/request nosuch Broken chair",
        "/request it",
        "lsit",
        "dance",
        "/request",  # the form: team, category, priority, title, description
        "itt",  # asked again, with the teams
        "it",
        "cables",  # asked again, with IT's categories
        "hardware",
        "soon",  # asked again, with the priorities
        "urgent",
        "Monitor " + "flickers " * 20,  # asked again, with the limit
        "Monitor flickers",
        "Since this morning, every few minutes.",
    )
    outbox_before = desk.ok("outbox", "list")
    first_pending = re.search(r"#(\d+) team_card IT-1 .* · queued ·", outbox_before)
    assert first_pending, outbox_before
    retried = desk.ok("outbox", "retry", first_pending.group(1))
    alice = desk.chat(ALICE, "/request queue", "claim IT-1", "/request queue")
    maria = desk.chat(MARIA, "claim IT-1")
    luca_returns = desk.chat(LUCA, "/request status IT-1")
    report_csv = desk.ok("report", "--format", "csv")
    return Story(luca_files, outbox_before, retried, alice, maria, luca_returns, report_csv)


def test_requester_files_and_hears_the_promise(story: Story) -> None:
    assert story.luca_files.startswith("Hello Luca Rossi. Type 'help' for what you can do")
    assert "Filed IT-1: Printer on fire. IT Service Desk aims to respond by" in story.luca_files


def test_unknown_team_answer_lists_the_teams(story: Story) -> None:
    assert (
        "⚠ There is no team called 'nosuch'. Choose one of: facilities, finance, hr, it."
        in story.luca_files
    )


def test_empty_request_is_refused_and_files_nothing(story: Story) -> None:
    assert "⚠ Say in a few words what you need." in story.luca_files
    # The refused request took no number: the next one filed is IT-2.
    assert "Filed IT-2: Monitor flickers." in story.luca_files


def test_a_typo_gets_a_suggestion_not_the_whole_help(story: Story) -> None:
    seen = story.luca_files
    assert "I don't know 'lsit'. Did you mean 'list'?\n" in seen
    # A word like no command still gets the list of what one can type, once.
    assert "I don't know 'dance'.\nWhat you can type:" in seen
    assert seen.count("What you can type:") == 1


def test_step_by_step_form(story: Story) -> None:
    seen = story.luca_files
    teams = (
        "Team [facilities (Facilities), finance (Finance), hr (People & HR), it (IT Service Desk)]:"
    )
    categories = "Category [Hardware, Software, Access, Network]:"
    priorities = "Priority [urgent, high, normal, low]:"
    prompts = [
        teams,
        "⚠ There is no team called 'itt'. Choose one of: facilities, finance, hr, it.",
        teams,
        categories,
        "⚠ IT Service Desk has no category 'cables'. Choose one of: "
        "Hardware, Software, Access, Network.",
        categories,
        priorities,
        "⚠ There is no priority 'soon'. Choose one of: urgent, high, normal, low.",
        priorities,
        "Title:",
        "⚠ The title is 187 characters long; the limit is 150.",
        "Title:",
        "Description:",
        "Filed IT-2: Monitor flickers. IT Service Desk aims to respond by",
    ]
    position = -1
    for prompt in prompts:
        found = seen.find(prompt, position + 1)
        assert found > position, f"missing or out of order: {prompt!r}\n{seen}"
        position = found
    # The answers were taken as given: urgent priority, the catalog's spelling of the category.
    assert "→ [#it] IT-2 · Monitor flickers · from Luca Rossi · urgent · Hardware · open" in (
        story.alice
    )


def test_requester_sees_no_notice_before_anyone_acts(story: Story) -> None:
    assert "→" not in story.luca_files


def test_outbox_holds_the_team_notice_until_a_member_reads_it(story: Story) -> None:
    assert "team_card" in story.outbox_before and "queued" in story.outbox_before
    assert re.fullmatch(r"Notice \d+ is queued again\.", flat(story.retried)), story.retried


def test_team_member_sees_the_channel_and_the_queue_and_claims(story: Story) -> None:
    seen = story.alice
    assert seen.startswith("Hello Alice Novak.")
    assert "→ [#it] IT-1 · Printer on fire · from Luca Rossi · normal · open · respond by" in seen
    assert "IT Service Desk: 2 requests in the queue, most urgent first:" in seen
    queue = seen.split("most urgent first:")[1]
    assert queue.index("IT-2 · Monitor flickers · urgent") < queue.index(
        "IT-1 · Printer on fire · normal"
    )
    assert "You hold IT-1 now." in seen
    # The queue after the claim shows the request as in progress.
    after = seen.split("You hold IT-1 now.")[1]
    assert "IT-1 · Printer on fire · normal · in progress" in after


def test_non_member_cannot_claim(story: Story) -> None:
    assert "⚠ There is no request IT-1 that you can see." in story.maria
    # IT-1 stayed with Alice.
    assert "Held by Alice Novak" in story.luca_returns


def test_requester_gets_the_notice_when_their_chat_runs(story: Story) -> None:
    seen = story.luca_returns
    notice = "→ [to Luca Rossi] IT-1 · Printer on fire: Alice Novak from IT Service Desk is on it."
    assert notice in seen
    # Delivered on arrival, before Luca typed anything.
    assert seen.index(notice) < seen.index("IT-1 · Printer on fire\nTeam: IT Service Desk")
    assert "status in progress" in seen
    assert seen.count(notice) == 1


def test_claimer_sees_the_card_edit_in_the_same_session(story: Story) -> None:
    after = story.alice.split("You hold IT-1 now.")[1]
    assert "✎ [#it] IT-1 · Printer on fire · from Luca Rossi · normal · in progress" in after


def test_report_csv_counts_the_requests(story: Story) -> None:
    lines = story.report_csv.strip().splitlines()
    assert lines[0].startswith(
        "team,team_name,filed,resolved,backlog,backlog_oldest_age_seconds,"
        "first_response_median_seconds,first_response_p90_seconds,"
    )
    rows = {row["team"]: row for row in csv.DictReader(io.StringIO(story.report_csv))}
    assert set(rows) == {"facilities", "finance", "hr", "it"}
    it = rows["it"]
    assert (it["filed"], it["resolved"], it["backlog"]) == ("2", "0", "2")
    assert it["first_response_met"] == "1.000"  # IT-1 was claimed within its standard
    assert rows["finance"]["filed"] == "0"


def test_a_held_request_is_not_taken_by_a_claim_and_the_history_says_who_took_it(
    desk: Inhouse,
) -> None:
    desk.chat(LUCA, "/request it Printer on fire")
    desk.chat(ALICE, "claim IT-1")
    typed = "claim IT-1\nassign IT-1 me\npriority IT-1 urgent\n/request status IT-1\nquit\n"
    # Bob reads German by the catalog; this terminal asks for English.
    bob = desk.ok("chat", "--as", "bob@example.com", "--lang", "en", input=typed)
    assert "⚠ IT-1 is held by Alice Novak. To take it over: assign IT-1 me\n" in bob
    assert "IT-1 is with Bob Schulz now." in bob
    history = bob.split("History:")[1]
    steps = [
        " · filed · Luca Rossi\n",
        " · claimed · Alice Novak\n",
        " · reassigned from Alice Novak to Bob Schulz · by Bob Schulz\n",
        " · priority changed: normal → urgent · Bob Schulz\n",
    ]
    position = -1
    for step in steps:
        found = history.find(step, position + 1)
        assert found > position, f"missing or out of order: {step!r}\n{history}"
        position = found
    assert desk.query("SELECT p.email FROM requests r JOIN people p ON p.id = r.assignee_id") == [
        ("bob@example.com",)
    ]


def test_input_ending_halfway_through_the_form_files_nothing(desk: Inhouse) -> None:
    seen = desk.ok("chat", "--as", LUCA, input="/request\nit\nhardware\n")
    assert "Priority [urgent, high, normal, low]:" in seen
    assert desk.query("SELECT count(*) FROM requests") == [(0,)]
