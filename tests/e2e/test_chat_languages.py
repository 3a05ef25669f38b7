"""`inhouse chat` in the person's own language and one date style.

A terminal that says nothing specific about its language (LANG unset, or C) leaves
the choice to the person: the catalog's language. Each run is a real `inhouse chat`
process on a copy of the example desk (Luca: Italian, Dana: German).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.cli import Inhouse

# English a German or Italian reader must not meet (the command keywords, such as
# `comment` or `priority`, stay English for everyone, by design).
ENGLISH = (
    "Hello",
    "<what you need>",
    " text",
    "[question]",
    "what was done",
    "[why]",
    "[comment]",
    "urgent,",
    "urgent|high",
    "high,",
    "aims to",
    "Filed",
    "History",
    " AM",
    " PM",
)

# One style for every instant: "mar 14:00" within the week, "mar 15 dic, 10:00"
# (and the year when it is not this one) beyond it; nothing else looks like a time.
ITALIAN_WHEN = r"(?:lun|mar|mer|gio|ven|sab|dom) (?:\d{1,2} [a-z]{3}(?: \d{4})?, )?\d{2}:\d{2}"
ANY_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")


def machine(tmp_path: Path, example_desk_db: Path, lang: str) -> Inhouse:
    tmp_path.mkdir(exist_ok=True)
    desk = Inhouse(tmp_path, extra_env={"LANG": lang})
    desk.adopt(example_desk_db)
    return desk


def test_an_italian_reader_at_a_neutral_terminal_reads_italian_throughout(
    tmp_path: Path, example_desk_db: Path
) -> None:
    desk = machine(tmp_path, example_desk_db, "C.UTF-8")
    seen = desk.chat(
        "luca@example.com",
        "aiuto",
        "/request it Stampante in fiamme",
        "/request",  # step by step: team, category, priority, title, description
        "it",
        "hardware",
        "bassa",  # "low", as the prompt offers it
        "Monitor sfarfalla",
        "Da stamattina.",
        "stato IT-2",
    )
    assert seen.startswith("Ciao Luca Rossi.")
    assert "Priorità [urgente, alta, normale, bassa]:" in seen
    assert desk.query("SELECT priority FROM requests WHERE key = 'IT-2'") == [("LOW",)]
    found = [word for word in ENGLISH if word in seen]
    assert not found, (found, seen)
    # A low request's ten working days end beyond the coming week: the date is named.
    promise = re.search(rf"IT-2 aperta: .* entro ({ITALIAN_WHEN}) e a risolvere entro (.+)\.", seen)
    assert promise, seen
    assert re.fullmatch(r"[a-z]{3} \d{1,2} [a-z]{3}(?: \d{4})?, \d{2}:\d{2}", promise[2])
    # Every time on the screen (promises, the history) is said in that one style.
    times = ANY_TIME.findall(seen)
    styled = re.findall(ITALIAN_WHEN, seen)
    assert times and len(styled) == len(times), (times, styled, seen)


def test_a_german_reader_without_lang_reads_german_and_a_set_lang_still_wins(
    tmp_path: Path, example_desk_db: Path
) -> None:
    desk = machine(tmp_path, example_desk_db, "")
    seen = desk.chat("dana@example.com", "hilfe", "/request it Drucker brennt")
    assert seen.startswith("Hallo Dana Weber.")
    assert "<Ihr Anliegen>" in seen and "Anfrage IT-1 eingereicht" in seen
    found = [word for word in ENGLISH if word in seen]
    assert not found, (found, seen)
    # A terminal that does say a language is obeyed, whoever sits at it.
    english = machine(tmp_path / "en", example_desk_db, "en_GB.UTF-8")
    assert english.chat("dana@example.com", "help").startswith("Hello Dana Weber.")
