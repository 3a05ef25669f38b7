"""Text from one person reaches others in Teams as text: no links, no mentions, no
HTML, no reversed names; an outsider learns nothing from a key.

Every activity the desk sends to the (fake) connector is searched for the
markup a hostile requester typed, so a renderer that forgets to escape fails
here whichever card or message it builds.
"""

from __future__ import annotations

from typing import Any

from tests.adapters.teams.conftest import TeamsWorld
from tests.adapters.teams.driver import IT_CHANNEL

HOSTILE = (
    "[bank login](http://evil.example) <at>Alice</at> <b>loud</b> "
    "invoice\u202efdp.exe IT\u200bAdmin"
)
LIVE_MARKUP = ("](http://evil", "<at>", "<b>", "\u202e", "\u200b")
NOT_SHOWN = ("data", "recipient", "from", "conversation")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        # Card data comes back to the desk on a click, and the addressing fields
        # (recipient, conversation) are the protocol's: nobody reads them.
        return [s for k, v in value.items() if k not in NOT_SHOWN for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


async def test_hostile_text_and_names_reach_nobody_as_markup(teams: TeamsWorld) -> None:
    driver, connector = teams.driver, teams.connector
    connector.add_member("aad-newbie", id="29:newbie", name=HOSTILE, email="newbie@example.com")
    await driver.install_in_team("alice")
    await driver.install_personal("newbie")

    def as_newbie(text: str) -> dict[str, Any]:
        return driver.activity(
            "message",
            "newbie",
            text=text,
            **{"from": {"id": "29:newbie", "name": HOSTILE, "aadObjectId": "aad-newbie"}},
        )

    await driver.post(as_newbie(f"request it {HOSTILE[:140]}"))
    await teams.deliver()
    card_id = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1].activity_id
    await driver.submit(
        "alice", {"action": "claim", "key": "IT-1"}, reply_to=card_id, in_channel=True
    )
    await driver.say_in_channel("alice", HOSTILE, root=card_id)
    await teams.deliver()
    await driver.post(as_newbie(HOSTILE))  # a reply to the one request waiting on them
    await driver.submit(
        "alice",
        {"action": "resolve", "key": "IT-1", "note": HOSTILE},
        reply_to=card_id,
        in_channel=True,
    )
    await teams.deliver()
    await driver.post(as_newbie(f"rate IT-1 2 {HOSTILE}"))
    await driver.post(as_newbie(f"comment IT-1 {HOSTILE}"))
    await driver.post(as_newbie(f"reopen IT-1 {HOSTILE}"))
    await teams.deliver()
    await driver.say("alice", "queue")
    await driver.say("alice", "status IT-1")
    await driver.post(as_newbie(f"request {HOSTILE[:30]} help"))  # an unknown team, echoed

    sent = [s.activity for s in connector.sent]
    leaks = [text for text in _strings(sent) if any(mark in text for mark in LIVE_MARKUP)]
    assert leaks == []
    # Shown as typed, not dropped: the team's chain carries the escaped text.
    chain = str(teams.to(f"{IT_CHANNEL};messageid={card_id}"))
    assert "bank login" in chain and "loud" in chain


async def test_an_outsider_learns_nothing_from_a_key(teams: TeamsWorld) -> None:
    await teams.driver.say("sam", "request it Pay slip wrong after my sick leave")
    answers = []
    for key in ("IT-1", "IT-99"):
        await teams.driver.say("fay", f"status {key}")
        answer = teams.connector.sent[-1].activity
        shown = str(answer.get("attachments") or answer.get("text"))
        answers.append(shown.replace(key.replace("-", "\\\\-"), "KEY"))
    assert answers[0] == answers[1]
    assert "that you can see" in answers[0]
    for secret in ("Sam", "Pay slip", "IT Service Desk"):
        assert secret not in answers[0]
