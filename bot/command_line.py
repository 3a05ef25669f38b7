"""The words people type, the same in every channel: `/request it My laptop...`,
`claim IT-4`, `rate IT-4 5 great`. Parsing only; channels decide what to show."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# Verbs that act on one request by key, with optional free text after it.
KEYED_VERBS = {
    "claim",
    "assign",
    "reply",
    "note",
    "wait",
    "resume",
    "resolve",
    "reopen",
    "close",
    "rate",
    "comment",
    "priority",
    "status",
}
LIST_VERBS = {"list", "queue", "help"}
# The keywords stay English for everyone; German and Italian ones work too.
ALIASES = {
    "liste": "list",
    "elenco": "list",
    "stato": "status",
    "hilfe": "help",
    "aiuto": "help",
    "warteschlange": "queue",
    "coda": "queue",
    "statistik": "stats",
    "statistiche": "stats",
}
STATS_VERB = "stats"  # stats [team] [period]
ME = "me"  # `assign KEY me`: take a request, also from a colleague who holds it
# Close enough to a known word to be a typo of it ("clam" -> "claim"), and not so
# loose that any short word finds a match.
TYPO_CUTOFF = 0.7


@dataclass(frozen=True)
class Command:
    verb: str  # "form", "file", "list", "queue", "help", "status", "claim", ...
    key: str | None = None
    team: str | None = None
    text: str = ""


def parse(line: str) -> Command:
    """`/request` and `/request ...` file or query; bare verbs act on a request."""
    stripped = line.strip()
    if not stripped:
        return Command("help")
    first, _, rest = stripped.partition(" ")
    if first.lower() == "/request":
        return _parse_request(rest.strip())
    return _parse_verb(stripped)


def _parse_request(rest: str) -> Command:
    if not rest:
        return Command("form")
    word, _, tail = rest.partition(" ")
    lowered = ALIASES.get(word.lower(), word.lower())
    if lowered == STATS_VERB:
        return _parse_stats(tail)
    if lowered in LIST_VERBS:
        return Command(lowered, team=tail.strip() or None)
    if lowered in KEYED_VERBS:
        return _parse_verb(rest)
    # Anything else is `/request <team or alias> <what you need>`.
    return Command("file", team=word, text=tail.strip())


def _parse_stats(tail: str) -> Command:
    """`stats`, `stats it`, `stats 30d`, `stats it month`: team and period, any order."""
    team, period = None, ""
    for word in tail.split():
        if word.lower() in PERIODS or (word[:-1].isdigit() and word[-1:].lower() in "dw"):
            period = word.lower()
        else:
            team = word
    return Command(STATS_VERB, team=team, text=period)


PERIODS = {"week": 7, "month": 30, "quarter": 91, "year": 365}


def period_days(text: str) -> int:
    """`7d`, `4w`, `month` -> days; the default is one week."""
    if text in PERIODS:
        return PERIODS[text]
    if text[:-1].isdigit():
        return int(text[:-1]) * (7 if text.endswith("w") else 1)
    return 7


def _parse_verb(text: str) -> Command:
    verb, _, rest = text.partition(" ")
    lowered = ALIASES.get(verb.lower(), verb.lower())
    if lowered == STATS_VERB:
        return _parse_stats(rest)
    if lowered in LIST_VERBS:
        return Command(lowered, team=rest.strip() or None)
    if lowered not in KEYED_VERBS:
        return Command("unknown", text=verb)
    key, _, tail = rest.strip().partition(" ")
    return Command(lowered, key=key or None, text=tail.strip())


def did_you_mean(word: str) -> str | None:
    """The command word a mistyped one most likely meant, if one is close."""
    known = sorted({"/request", *KEYED_VERBS, *LIST_VERBS, STATS_VERB, *ALIASES})
    found = difflib.get_close_matches(word.lower(), known, n=1, cutoff=TYPO_CUTOFF)
    return found[0] if found else None
