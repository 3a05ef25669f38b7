"""What a Slack client shows for date formatting, to one viewer.

Slack replaces `<!date^UNIX^TOKENS|fallback>` (optionally `^LINK` after the tokens)
in mrkdwn with the instant in the *viewer's* time zone, and shows the fallback only
where it cannot ("Formatting text for app surfaces: date formatting"). Tests read a
message as a person in a given zone would. Only the tokens the desk uses are
rendered; any other token, or a token that is not well formed, fails the test (on
Slack a reader would see the fallback, which a test should notice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DATE = re.compile(
    r"<!date\^(?P<stamp>-?\d+)\^(?P<tokens>[^|^>]+)(?:\^(?P<link>[^|>]+))?\|(?P<fallback>[^>]+)>"
)
TOKEN = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class FormattedDate:
    instant: datetime
    tokens: str
    fallback: str


def dates_in(text: str) -> list[FormattedDate]:
    """Every date formatting in a message, in order; a `<!date` that is not well
    formed fails (Slack would show it as typed)."""
    found = [
        FormattedDate(
            datetime.fromtimestamp(int(m["stamp"]), ZoneInfo("UTC")), m["tokens"], m["fallback"]
        )
        for m in DATE.finditer(text)
    ]
    assert text.count("<!date") == len(found), f"malformed date formatting in {text!r}"
    return found


def shown_to(text: str, timezone: str, now: datetime) -> str:
    """The text as a viewer in `timezone` reads it at `now` (12-hour clock, as
    Slack shows by default to an English-speaking user)."""
    zone = ZoneInfo(timezone)
    dates_in(text)  # well formed, or fail

    def render(match: re.Match[str]) -> str:
        moment = datetime.fromtimestamp(int(match["stamp"]), zone)
        today = now.astimezone(zone).date()

        def token(name: re.Match[str]) -> str:
            short = f"{moment:%b} {moment.day}, {moment.year}"
            match name[1]:
                case "date_short":
                    return short
                case "date_short_pretty":
                    days = (moment.date() - today).days
                    return {-1: "yesterday", 0: "today", 1: "tomorrow"}.get(days, short)
                case "time":
                    return (
                        f"{moment.hour % 12 or 12}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"
                    )
            raise AssertionError(f"the fake does not render the date token {{{name[1]}}}")

        return TOKEN.sub(token, match["tokens"])

    return DATE.sub(render, text)
