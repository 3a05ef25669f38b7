"""What Teams hands the bot from a channel, and what the bot does with it.

Teams delivers a channel message only when it @mentions the bot, unless the app's
manifest grants ChannelMessage.Read.Group; the driver applies that rule (from the
shipped manifest unless a test says otherwise) before anything reaches the app.
"""

from __future__ import annotations

import json
from typing import Any

from bot.teams.package import MANIFEST, SOURCE
from tests.adapters.teams.conftest import TeamsWorld
from tests.fakes.bot_connector import ChannelDelivery


def card_text(activity: dict[str, Any]) -> str:
    return str(activity.get("attachments") or activity.get("text"))


def without_consent() -> ChannelDelivery:
    """The shipped manifest as it was before it asked for channel messages."""
    manifest = json.loads((SOURCE / MANIFEST).read_text(encoding="utf-8"))
    del manifest["authorization"]
    return ChannelDelivery.from_manifest(manifest)


async def claimed_card(teams: TeamsWorld) -> str:
    """Sam files IT-1, Alice claims it from the channel card; the card's id."""
    driver = teams.driver
    await driver.install_in_team("alice")
    await driver.install_personal("sam")
    await driver.say("sam", "request it Laptop won't boot")
    await teams.deliver()
    card = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1].activity_id
    assert card is not None
    await driver.submit("alice", {"action": "claim", "key": "IT-1"}, reply_to=card, in_channel=True)
    await teams.deliver()
    return card


async def test_without_consent_a_reply_in_the_chain_must_mention_the_bot(
    teams: TeamsWorld,
) -> None:
    teams.driver.delivery = without_consent()
    card = await claimed_card(teams)

    answer = await teams.driver.say_in_channel("alice", "Is the power light on?", root=card)
    await teams.deliver()
    assert not answer.delivered
    assert not any("power light" in card_text(a) for a in teams.to("a:1sam"))

    answer = await teams.driver.say_in_channel(
        "alice", "Is the power light on?", root=card, mention=True
    )
    await teams.deliver()
    assert answer.delivered
    told = card_text(teams.to("a:1sam")[-1])
    assert "Is the power light on?" in told
    assert "<at>" not in told and "Inhouse</at>" not in told


async def test_with_the_shipped_consent_an_unmentioned_reply_reaches_the_requester(
    teams: TeamsWorld,
) -> None:
    card = await claimed_card(teams)
    answer = await teams.driver.say_in_channel("alice", "Is the power light on?", root=card)
    await teams.deliver()
    assert answer.delivered
    assert "Is the power light on?" in card_text(teams.to("a:1sam")[-1])


async def test_chatter_in_the_channel_is_read_but_left_alone(teams: TeamsWorld) -> None:
    """With the consent the bot gets every channel message; those not for it (no
    mention, not in a request card's chain) get no answer and leave nothing stored."""
    card = await claimed_card(teams)
    before = await teams.stored()
    sent = len(teams.connector.sent)

    chatter = [
        await teams.driver.say_in_channel("bob", "Lunch at 12?", mention=False),
        await teams.driver.say_in_channel("alice", "queue", mention=False),
        await teams.driver.say_in_channel("bob", "Count me in", root="1700000099999"),
    ]
    await teams.deliver()
    assert all(a.delivered and a.status in (200, 201) for a in chatter)
    assert teams.connector.sent[sent:] == []
    assert await teams.stored() == before

    # Addressed to it, the bot still answers; in the card's chain it still relays.
    await teams.driver.say_in_channel("alice", "queue")
    assert "IT-1" in card_text(teams.connector.sent[-1].activity)
    await teams.driver.say_in_channel("alice", "On my way", root=card)
    await teams.deliver()
    assert "On my way" in card_text(teams.to("a:1sam")[-1])
