"""Text from one person reaches others as text: no pings, no links, no reversed
names; and a refusal tells an outsider nothing about a request they may not see.

Every string the desk sends to Slack (Web API arguments, acknowledgements,
response_url answers) is collected and searched for the markup a hostile
requester typed, so a renderer that forgets to escape fails here whichever
message it builds.
"""

from __future__ import annotations

import json
from typing import Any

from tests.adapters.slack.conftest import SlackWorld
from tests.adapters.slack.driver import Answer

# What a careless or hostile person can type into a title, a reply, a comment or
# their Slack profile name: mass pings, a user ping, a spoofed link, a right-to-left
# override that makes "exe.pdf" read backwards, and a zero-width space.
HOSTILE = (
    "<!channel> <!here> <!subteam^S0ALL> <@U0BOB> <http://evil.example|bank login> "
    "invoice\u202efdp.exe IT\u200bAdmin"
)
LIVE_MARKUP = (
    "<!channel>",
    "<!here>",
    "<!subteam",
    "<@U0BOB>",
    "<http://evil",
    "\u202e",
    "\u200b",
)

DATA_KEYS = ("value", "private_metadata")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            decoded = json.loads(value)  # blocks and views arrive JSON-encoded
        except ValueError:
            return [value]
        return [value] if isinstance(decoded, str) else _strings(decoded)
    if isinstance(value, dict):
        # A button's value and a view's metadata come back to the desk; nobody reads them.
        return [s for k, v in value.items() if k not in DATA_KEYS for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _live_markup(slack: SlackWorld, answers: list[Answer]) -> list[tuple[str, str]]:
    """(where, text) for every outgoing text that carries live markup."""
    sent: list[tuple[str, Any]] = [(c.method, c.args) for c in slack.fake.calls]
    sent += [("response_url", body) for bodies in slack.fake.responses.values() for body in bodies]
    sent += [("ack", a.text) for a in answers]
    return [
        (where, text)
        for where, value in sent
        for text in _strings(value)
        if any(mark in text for mark in LIVE_MARKUP)
    ]


async def test_hostile_text_and_names_reach_nobody_as_markup(slack: SlackWorld) -> None:
    fake, driver = slack.fake, slack.driver
    # A newcomer whose Slack profile name is itself an attack.
    fake.users["U0NEW"].real_name = HOSTILE
    fake.users["U0NEW"].name = HOSTILE
    answers: list[Answer] = []

    async def command(user: str, text: str) -> str:
        sent = await driver.command(user, text)
        answers.append(sent)
        return await slack.answer(sent)

    filed = await command("U0NEW", f"it {HOSTILE[:140]}\n{HOSTILE}")
    assert "Filed IT-1" in filed
    await slack.deliver()
    card = slack.card()
    # Shown as typed (escaped), not dropped.
    assert "&lt;!channel&gt;" in card.text
    assert "&lt;http://evil.example|bank login&gt;" in str(card.blocks)

    await driver.press("U0ALICE", "claim", "IT-1", channel="C0ITDESK", message_ts=card.ts)
    await slack.eventually(lambda: _status(slack, "IT-1", "in_progress"))
    await driver.event(
        {
            "type": "message",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "user": "U0ALICE",
            "text": HOSTILE,
            "ts": "1800000000.000100",
            "thread_ts": card.ts,
        }
    )
    await slack.eventually(lambda: _delivered_dm(slack, "U0NEW", "wrote"))
    reply_dm = slack.dms("U0NEW")[-1]
    await driver.event(
        {
            "type": "message",
            "channel": "DU0NEW",
            "channel_type": "im",
            "user": "U0NEW",
            "text": HOSTILE,
            "ts": "1800000000.000200",
            "thread_ts": reply_dm.ts,
        }
    )
    # A plain DM to the bot is echoed with an offer to file it.
    await driver.event(
        {
            "type": "message",
            "channel": "DU0NEW",
            "channel_type": "im",
            "user": "U0NEW",
            "text": HOSTILE,
            "ts": "1800000000.000300",
        }
    )
    await command("U0ALICE", f"note IT-1 {HOSTILE}")
    await command("U0ALICE", f"resolve IT-1 {HOSTILE}")
    await slack.deliver()
    await command("U0NEW", "rate IT-1 2")
    await command("U0NEW", f"comment IT-1 {HOSTILE}")
    await command("U0NEW", f"reopen IT-1 {HOSTILE}")
    await slack.deliver()
    await command("U0ALICE", "queue")
    await command("U0ALICE", "status IT-1")
    await command("U0NEW", "list")
    await command("U0SAM", f"{HOSTILE[:40]} help me")  # an unknown team, echoed back
    await driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    await slack.eventually(lambda: fake.calls_to("views.publish"))
    await slack.deliver()

    assert _live_markup(slack, answers) == []
    # Nothing was lost on the way: the team read the whole story, escaped.
    thread = " ".join(m.text for m in fake.messages["C0ITDESK"])
    assert thread.count("&lt;!channel&gt;") >= 3


async def test_an_outsider_learns_nothing_from_a_key(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Pay slip wrong after my sick leave")
    await slack.deliver()
    verbs = ("status", "claim", "rate", "reopen", "reply", "priority")
    answers = {verb: await slack.say("U0FAY", f"{verb} IT-1 5") for verb in verbs}
    unknown = {verb: await slack.say("U0FAY", f"{verb} IT-99 5") for verb in verbs}
    for verb, answer in answers.items():
        assert answer == unknown[verb].replace("IT-99", "IT-1"), verb
        assert "There is no request IT-1 that you can see." in answer
        for secret in ("Sam", "Pay slip", "IT Service Desk"):
            assert secret not in answer
    # Forged buttons from an outsider read the same, privately.
    await slack.driver.press("U0FAY", "claim", "IT-1", channel="C0ITDESK")
    await slack.driver.press("U0FAY", "rate_5", "IT-1|5", channel="DU0FAY")
    await slack.eventually(lambda: len(slack.fake.calls_to("chat.postEphemeral")) >= 2)
    refusals = [c.args["text"] for c in slack.fake.calls_to("chat.postEphemeral")]
    assert all("There is no request IT-1 that you can see." in r for r in refusals), refusals
    assert (await slack.request("IT-1")).status == "open"


async def test_the_requester_and_the_team_still_get_their_own_refusals(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    assert "Only IT Service Desk can do that." in await slack.say("U0SAM", "claim IT-1")
    assert "Only the person who filed IT-1 can do that." in await slack.say(
        "U0ALICE", "reopen IT-1"
    )


async def _status(slack: SlackWorld, key: str, status: str) -> bool:
    return (await slack.request(key)).status == status


async def _delivered_dm(slack: SlackWorld, user: str, words: str) -> bool:
    await slack.deliver()
    return any(words in m.text for m in slack.dms(user))
