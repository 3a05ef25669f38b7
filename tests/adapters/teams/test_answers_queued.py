"""The answer to what a person did in Teams goes through the outbox: "Filed IT-1"
is queued with the request, in its transaction, and delivered into the
conversation the person spoke in (docs/architecture.md, Outbox). A Bot Connector
failing at that moment delays the answer; it does not lose it. A refusal (nothing
was stored) is still said at once, in the turn.

Real activities to /api/messages; the fake Bot Connector fails what it is told to
(`fail_next`); the world's dispatch loop runs as `serve` runs it, nudged by the bot.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from handlers.delivery import Recipient
from models.outbox import OutboxMessage
from tests.adapters.teams.conftest import TeamsWorld
from tests.adapters.teams.driver import BOT, IT_CHANNEL
from tests.adapters.waiting import eventually


def shown(activity: dict[str, Any]) -> str:
    return str(activity.get("attachments") or activity.get("text"))


def told(teams: TeamsWorld, conversation: str, words: str) -> list[dict[str, Any]]:
    """The bot's messages in `conversation` (as they stand now) that say `words`."""
    return [a for a in teams.to(conversation) if words in shown(a)]


async def answers(teams: TeamsWorld) -> list[OutboxMessage]:
    async with teams.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "command_answer")
                .order_by(OutboxMessage.id)
            )
        )


async def delivered_after_recovery(teams: TeamsWorld) -> OutboxMessage:
    """Run the loop, as its timer would, until the one answer is out."""
    teams.runtime.retry_base = timedelta(seconds=0.5)
    teams.runtime.retry_cap = timedelta(seconds=1)

    async def out() -> bool:
        await teams.deliver()
        return all(a.delivered_at or a.dead_at for a in await answers(teams))

    await eventually(out, within=15)
    [answer] = await answers(teams)
    return answer


async def test_a_quick_file_answered_while_the_connector_fails_is_told_once_it_recovers(
    teams: TeamsWorld,
) -> None:
    await teams.driver.install_personal("sam")
    teams.connector.fail_next("reply", status=503, times=3)
    message = teams.driver.activity("message", "sam", text="request it Printer on fire")
    assert (await teams.driver.post(message)).status == 201

    # Stored at once; Sam's answer waits in the outbox instead of being lost.
    assert (await teams.request("IT-1")).title == "Printer on fire"
    assert told(teams, "a:1sam", "Filed IT-1") == []
    [waiting] = await answers(teams)
    assert (waiting.delivered_at, waiting.dead_at, waiting.error_code) == (None, None, "http_5xx")

    answer = await delivered_after_recovery(teams)
    assert answer.dead_at is None and answer.delivered_at is not None
    [filed] = told(teams, "a:1sam", "Filed IT-1")
    assert "IT Service Desk aims to respond by" in shown(filed)
    # A reply to what Sam sent, as the answer given in his turn used to be.
    [reply] = [s for s in teams.connector.sent_to("a:1sam", "reply") if "IT-1" in str(s.activity)]
    assert reply.reply_to_id == message["id"]
    assert [r.status for r in teams.connector.requests_for("reply")] == [503, 503, 503, 201]


async def test_the_form_becomes_its_receipt_once_after_a_failed_attempt(
    teams: TeamsWorld,
) -> None:
    await teams.driver.say("sam", "request")
    [form] = told(teams, "a:1sam", "New request")
    teams.connector.fail_next("update", status=429)  # throttled: not retried by the SDK
    await teams.driver.submit(
        "sam",
        {"action": "file", "team": "it", "priority": "normal", "title": "Laptop won't boot"},
        reply_to=form["id"],
    )
    assert (await teams.request("IT-1")).title == "Laptop won't boot"
    assert told(teams, "a:1sam", "New request") == [form]  # still the form, for now

    answer = await delivered_after_recovery(teams)
    assert answer.dead_at is None and answer.error_code == "ratelimited"  # what it met
    # The form itself is the receipt now: replaced in place, once; nothing posted.
    [receipt] = told(teams, "a:1sam", "Filed IT-1")
    assert receipt["id"] == form["id"]
    assert told(teams, "a:1sam", "New request") == []
    updates = teams.connector.sent_to("a:1sam", "update")
    assert [u.activity_id for u in updates] == [form["id"]]
    assert [r.status for r in teams.connector.requests_for("update")] == [429, 200]
    assert len(teams.to("a:1sam")) == 1


async def test_a_receipt_whose_form_was_deleted_is_posted_instead(teams: TeamsWorld) -> None:
    await teams.driver.say("sam", "request")
    [form] = told(teams, "a:1sam", "New request")
    teams.connector.fail_next("update", status=404)  # the form is gone
    await teams.driver.submit(
        "sam",
        {"action": "file", "team": "it", "priority": "normal", "title": "Laptop won't boot"},
        reply_to=form["id"],
    )
    [answer] = await answers(teams)
    assert answer.delivered_at is not None and answer.dead_at is None
    assert len(told(teams, "a:1sam", "Filed IT-1")) == 1


async def test_an_answer_the_bot_may_not_send_is_a_dead_letter_and_the_request_stays(
    teams: TeamsWorld,
) -> None:
    await teams.driver.install_in_team("alice")
    teams.connector.fail_next("reply", status=403)  # Sam blocked the bot meanwhile
    assert (await teams.driver.say("sam", "request it Printer on fire")).status == 201

    assert (await teams.request("IT-1")).title == "Printer on fire"
    [answer] = await answers(teams)
    assert answer.dead_at is not None and answer.delivered_at is None
    assert answer.error_code == "teams_403"
    assert "cannot reach this chat" in (answer.last_error or "")
    assert told(teams, "a:1sam", "IT-1") == []
    # The team heard of it all the same: another lane, delivered once.
    cards = [p for p in teams.channel_posts() if p.op == "send" and "Printer" in str(p.activity)]
    assert len(cards) == 1


async def test_a_refusal_is_said_at_once_and_queues_nothing(teams: TeamsWorld) -> None:
    teams.dispatcher.held = True  # the outbox sends nothing during this test
    before = await teams.stored()
    await teams.driver.say("sam", "request plumbing Leak")
    await teams.driver.submit(
        "sam", {"action": "claim", "key": "IT-1"}, reply_to="1", in_channel=True
    )
    said = [shown(a) for a in teams.to("a:1sam")] + [
        shown(s.activity) for s in teams.channel_posts()
    ]
    assert any("There is no team called" in s for s in said), said
    assert any("There is no request IT" in s for s in said), said
    after = await teams.stored()
    assert after["outbox"] == before["outbox"] == 0
    assert after["requests"] == 0


async def test_the_answer_in_a_channel_replies_to_the_post_it_answers(
    teams: TeamsWorld,
) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.say("sam", "request it Printer on fire")
    tag = f"<at>{BOT['name']}</at>"
    asked = teams.driver.activity(
        "message",
        "alice",
        text=f"{tag} claim IT-1",
        entities=[{"type": "mention", "text": tag, "mentioned": BOT}],
        **teams.driver.channel(),
    )
    assert (await teams.driver.as_teams_delivers(asked)).status == 201
    assert (await teams.request("IT-1")).status == "in_progress"
    [answer] = [
        s
        for s in teams.connector.sent_to(IT_CHANNEL, "reply")
        if "You hold IT-1" in str(s.activity)
    ]
    assert answer.reply_to_id == asked["id"]  # in the post's thread, not a new post


async def test_the_answer_goes_where_the_activity_came_from_whatever_it_claims(
    teams: TeamsWorld,
) -> None:
    """An activity that names another conversation and another connector in the
    fields botbuilder reads for proactive messages (`relatesTo`) is answered in its
    own conversation, at its own (checked, loopback) serviceUrl."""
    elsewhere = {
        "serviceUrl": "http://desk-helper.attacker.invalid:3978/",
        "channelId": "msteams",
        "conversation": {"id": "a:1victim"},
        "user": {"id": "29:victim"},
        "bot": {"id": "28:inhouse-bot"},
        "activityId": "1",
    }
    message = teams.driver.activity(
        "message", "sam", text="request it Printer on fire", relatesTo=elsewhere
    )
    assert (await teams.driver.post(message)).status == 201
    [answer] = await answers(teams)
    reference = json.loads(answer.payload["destination"]["teams_reference"])
    assert reference["serviceUrl"] == teams.connector.url
    assert reference["conversation"]["id"] == "a:1sam"
    assert reference["user"]["id"] == "29:sam"
    assert reference["activityId"] == message["id"]
    assert answer.delivered_at is not None
    assert len(told(teams, "a:1sam", "Filed IT-1")) == 1
    assert teams.to("a:1victim") == []


async def test_no_other_channel_takes_a_teams_answer(teams: TeamsWorld) -> None:
    """Local mode logs notices for nobody in particular to the console too; an
    answer that names a Teams chat is not for it (nor for Slack: see
    tests/adapters/test_cross_channel.py)."""
    await teams.driver.say("sam", "list")
    [answer] = await answers(teams)
    where = Recipient(destination=dict(answer.payload["destination"]))
    channels = teams.runtime.channels
    assert [c.name for c in channels] == ["teams", "console"]
    assert [c.name for c in channels if await c.reaches(where)] == ["teams"]
    assert answer.channel == "teams"
