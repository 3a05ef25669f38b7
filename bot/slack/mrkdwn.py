"""User text inside Slack mrkdwn: shown as typed, never a mention or a link.

Slack parses `<...>` as links and mentions (`<!channel>`, `<@U1>`,
`<http://evil|bank>`) and `&` as an entity; escaping these three is what Slack
documents, and it turns every such attempt into visible text.
"""

from __future__ import annotations

from models.visible_text import neutralise


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
