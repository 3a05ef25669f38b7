"""User text inside Slack mrkdwn: shown as typed, never a mention or a link.

Slack parses `<...>` as links and mentions (`<!channel>`, `<@U1>`,
`<http://evil|bank>`) and `&` as an entity; escaping these three is what Slack
documents, and it turns every such attempt into visible text.
"""

from __future__ import annotations


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: str) -> str:
    """User text as a mrkdwn block quote, escaped line by line."""
    return "\n".join("> " + escape(line) for line in text.splitlines() or [""])
