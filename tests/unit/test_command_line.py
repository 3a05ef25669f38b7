"""What people type is understood the same way in every channel."""

from __future__ import annotations

import pytest

from bot.command_line import Command, did_you_mean, parse


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/request", Command("form")),
        ("/request   ", Command("form")),
        (
            "/request it My laptop won't boot",
            Command("file", team="it", text="My laptop won't boot"),
        ),
        ("/request IT", Command("file", team="IT", text="")),
        ("/request list", Command("list")),
        ("/request LIST", Command("list")),
        ("/request queue finance", Command("queue", team="finance")),
        ("/request status IT-4", Command("status", key="IT-4")),
        ("/request help", Command("help")),
        ("claim IT-4", Command("claim", key="IT-4")),
        ("reply IT-4 Is it plugged in?", Command("reply", key="IT-4", text="Is it plugged in?")),
        ("rate it-4 5 great work", Command("rate", key="it-4", text="5 great work")),
        ("resolve IT-4", Command("resolve", key="IT-4")),
        ("claim", Command("claim")),
        ("dance IT-4", Command("unknown", text="dance")),
        ("", Command("help")),
    ],
)
def test_parse(line: str, expected: Command) -> None:
    assert parse(line) == expected


def test_a_team_called_like_a_verb_is_still_reachable_by_filing_text() -> None:
    # "/request list" lists; a team must not be called "list" (the catalog's slug rule
    # allows it, so the words win and the team stays reachable by its aliases).
    assert parse("/request list printers").verb == "list"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("clam", "claim"),
        ("asign", "assign"),
        ("reslove", "resolve"),
        ("RESLOVE", "resolve"),
        ("lsit", "list"),
        ("/requets", "/request"),
        ("priorty", "priority"),
        ("aiut", "aiuto"),  # the local aliases are known words too
        ("dance", None),
        ("thanks", None),
        ("x", None),
    ],
)
def test_a_typo_is_matched_to_the_word_it_was_meant_to_be(typed: str, meant: str | None) -> None:
    assert did_you_mean(typed) == meant
