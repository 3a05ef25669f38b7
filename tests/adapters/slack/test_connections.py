"""The outbox keeps its connections to Slack alive (docs/architecture.md, Outbox):
every card, DM and answer on a connection of its own would be a TCP and TLS
handshake with Slack per message: a round trip or two of waiting and CPU spent on
every message. The fake Slack notes the client connection each call came on.
"""

from __future__ import annotations

from typing import Any

from tests.adapters.slack.conftest import SlackWorld

DELIVERIES = ("chat.postMessage", "response_url")


def delivered_on(slack: SlackWorld) -> list[Any]:
    """The client connections (their addresses) of every post and answer so far."""
    return [peer for name, peer in slack.fake.connections if name in DELIVERIES]


async def test_cards_and_answers_reuse_the_outboxs_connections(slack: SlackWorld) -> None:
    assert "Filed IT-1" in await slack.say("U0SAM", "it Printer jams")
    await slack.deliver()
    first = delivered_on(slack)
    assert len(first) == 2  # the team card and the answer at the response_url

    for n, user in enumerate(("U0FAY", "U0SAM", "U0FAY")):
        assert f"Filed IT-{n + 2}" in await slack.say(user, f"it Scanner {n} jams")
        await slack.deliver()
    later = delivered_on(slack)[len(first) :]

    assert len(later) == 6
    assert set(later) <= set(first), "a message went out on a new connection"
    assert "IT-4" in slack.card().text
