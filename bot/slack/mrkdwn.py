"""User text inside Slack mrkdwn: shown as typed, never a mention or a link.

Slack parses `<...>` as links and mentions (`<!channel>`, `<@U1>`,
`<http://evil|bank>`) and `&` as an entity; escaping these three is what Slack
documents, and it turns every such attempt into visible text.
"""

from __future__ import annotations

import re
from datetime import datetime

from models.i18n import format_when
from models.visible_text import neutralise

# Slack's date formatting: <!date^UNIX^TOKENS|fallback> (see `instant`).
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def escape(text: str) -> str:
    """The one escaping path for Slack: every renderer passes people's text here."""
    return neutralise(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(text: str) -> str:
    """People's text inside a `plain_text` object (modal titles, input errors,
    button labels): Slack shows it without parsing, so only steering is removed."""
    return neutralise(text)


def quote(text: str) -> str:
    """User text as a mrkdwn block quote, escaped line by line."""
    return "\n".join("> " + escape(line) for line in text.splitlines() or [""])


def instant(moment: datetime, now: datetime) -> str:
    """An instant that each viewer reads in their own time zone and clock style:
    Slack's date formatting ("today 17:00", "Dec 15 5:00 PM"), so a channel card
    says the right time to a reader in Berlin and one in New York alike. The
    fallback, for clients that cannot format it, is the reader's own words
    (`format_when`, in the language and zone being rendered for)."""
    fallback = escape(format_when(moment, now))
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def plain_dates(text: str) -> str:
    """Text with each formatted date replaced by its fallback: for a message's
    notification `text`, which is shown where Slack formats nothing."""
    return _DATE.sub(lambda found: found.group(1), text)
