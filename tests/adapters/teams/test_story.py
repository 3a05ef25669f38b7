"""The whole story in Teams: real activities over HTTP, replies on a fake connector."""

from __future__ import annotations

from tests.adapters.teams.conftest import TeamsWorld
from tests.adapters.teams.driver import IT_CHANNEL


def card_text(activity: dict) -> str:
    return str(activity.get("attachments") or activity.get("text"))


async def test_card_form_channel_card_claim_chain_resolve_survey_reopen(
    teams: TeamsWorld,
) -> None:
    driver, connector = teams.driver, teams.connector
    assert (await driver.install_in_team("alice")).status in (200, 201)
    assert (await driver.install_personal("sam")).status in (200, 201)

    # "request" opens the form as an Adaptive Card.
    await driver.say("sam", "request")
    form = teams.to("a:1sam")[-1]
    assert "New request" in card_text(form)
    inputs = [i["id"] for i in form["attachments"][0]["content"]["body"] if "id" in i]
    assert inputs == ["team", "category", "priority", "title", "description"]

    # A bad submission comes back on the same card, with what was typed.
    await driver.submit(
        "sam",
        {"action": "file", "team": "it", "priority": "normal", "title": "  "},
        reply_to=form["id"],
    )
    assert "Say in a few words what you need." in card_text(teams.to("a:1sam")[-1])
    assert connector.sent[-1].op == "update"

    await driver.submit(
        "sam",
        {
            "action": "file",
            "team": "it",
            "category": "Hardware",
            "priority": "normal",
            "title": "Laptop won't boot",
            "description": "Black screen",
        },
        reply_to=form["id"],
    )
    receipt = teams.to("a:1sam")[-1]
    assert "Filed IT-1: Laptop won" in card_text(receipt)
    assert "IT Service Desk aims to respond by" in card_text(receipt)

    # The team's channel gets the card with its actions.
    await teams.deliver()
    posted = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1]
    content = posted.activity["attachments"][0]["content"]
    titles = [a["title"] for a in content["actions"]]
    assert titles == ["Claim", "Assign…", "Waiting on requester", "Resolve"]
    card_id = posted.activity_id

    # Fay is not on IT: refused, nothing changes.
    await driver.submit(
        "fay", {"action": "claim", "key": "IT-1"}, reply_to=card_id, in_channel=True
    )
    refusal = card_text(connector.sent[-1].activity)
    assert "There is no request IT\\\\-1 that you can see." in refusal
    assert (await teams.request("IT-1")).assignee_id is None

    # Alice claims from the card: it is updated in place; Sam hears about it.
    await driver.submit(
        "alice", {"action": "claim", "key": "IT-1"}, reply_to=card_id, in_channel=True
    )
    await teams.deliver()
    assert (await teams.request("IT-1")).status == "in_progress"
    updates = [s for s in connector.sent if s.op == "update" and s.activity_id == card_id]
    assert updates and "Alice IT" in card_text(updates[-1].activity)
    assert "is on it" in card_text(teams.to("a:1sam")[-1])

    # Alice replies in the card's chain: Sam gets it in his chat.
    await driver.say_in_channel("alice", "Is the power light on?", root=card_id)
    await teams.deliver()
    assert "Is the power light on?" in card_text(teams.to("a:1sam")[-1])

    # Sam answers in his chat: it lands in the card's chain.
    await driver.say("sam", "No light at all")
    await teams.deliver()
    chain = teams.to(f"{IT_CHANNEL};messageid={card_id}")
    assert any("No light at all" in card_text(a) for a in chain)

    # Resolve from the card with a note; Sam gets the note and the survey.
    await driver.submit(
        "alice",
        {"action": "resolve", "key": "IT-1", "note": "Replaced the power supply"},
        reply_to=card_id,
        in_channel=True,
    )
    await teams.deliver()
    survey = teams.to("a:1sam")[-1]
    assert "Replaced the power supply" in card_text(survey)
    buttons = [a["title"] for a in survey["attachments"][0]["content"]["actions"]]
    assert buttons == ["1", "2", "3", "4", "5", "Not fixed — reopen"]

    # A low rating: the survey card shows it and offers the way back.
    await driver.submit(
        "sam", {"action": "rate", "key": "IT-1", "rating": 2}, reply_to=survey["id"]
    )
    await teams.deliver()
    answered = [a for a in teams.to("a:1sam") if a["id"] == survey["id"]][-1]
    assert "2 of 5" in card_text(answered) and "reopen" in card_text(answered)

    # A second answer, by reaction, is politely refused.
    await driver.react("sam", "like", reply_to=survey["id"])
    assert "already rated" in card_text(connector.sent[-1].activity)

    # Not fixed: Sam reopens; the team sees it in the chain.
    await driver.submit("sam", {"action": "reopen", "key": "IT-1"}, reply_to=survey["id"])
    await teams.deliver()
    assert (await teams.request("IT-1")).status == "in_progress"
    chain = teams.to(f"{IT_CHANNEL};messageid={card_id}")
    assert any("reopened" in card_text(a) for a in chain)


async def test_survey_by_reaction(teams: TeamsWorld) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.install_personal("sam")
    await teams.driver.say("sam", "request it Monitor flickers")
    await teams.deliver()
    card_id = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1].activity_id
    await teams.driver.submit(
        "bob",
        {"action": "resolve", "key": "IT-1", "note": "New cable"},
        reply_to=card_id,
        in_channel=True,
    )
    await teams.deliver()
    survey = teams.to("a:1sam")[-1]
    await teams.driver.react("sam", "heart", reply_to=survey["id"])
    await teams.deliver()
    assert (await teams.request("IT-1")).status == "closed"
    answered = [a for a in teams.to("a:1sam") if a["id"] == survey["id"]][-1]
    assert "5 of 5" in card_text(answered)


async def test_claim_on_a_held_request_says_who_holds_it_and_takes_nothing(
    teams: TeamsWorld,
) -> None:
    driver, connector = teams.driver, teams.connector
    await driver.install_in_team("alice")
    await driver.say("sam", "request it Printer on fire")
    await teams.deliver()
    card_id = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1].activity_id
    await driver.submit(
        "alice", {"action": "claim", "key": "IT-1"}, reply_to=card_id, in_channel=True
    )
    await teams.deliver()
    alice = (await teams.request("IT-1")).assignee_id
    sent = len(connector.sent)

    # Bob presses Claim on the same card: he is told who holds it; nothing changes.
    await driver.submit(
        "bob", {"action": "claim", "key": "IT-1"}, reply_to=card_id, in_channel=True
    )
    await teams.deliver()
    answer = card_text(connector.sent[-1].activity)
    assert "IT\\\\-1 is held by Alice IT. To take it over: assign IT\\\\-1 me" in answer
    assert len(connector.sent) == sent + 1  # that answer only: the card was not edited
    assert (await teams.request("IT-1")).assignee_id == alice

    # Taking it over is said out loud, and the history says who gave it to whom.
    # (Bob's answer and the card's edit go to different conversations, side by side.)
    before = len(connector.sent)
    await driver.say("bob", "assign IT-1 me")
    told = [card_text(s.activity) for s in connector.sent[before:]]
    assert [t for t in told if "IT-1 is with Bob IT now." in t], told
    assert (await teams.request("IT-1")).assignee_id != alice
    await driver.say("sam", "status IT-1")
    story = card_text(connector.sent[-1].activity)
    assert "reassigned from Alice IT to Bob IT · by Bob IT" in story
