"""The whole story in Slack, through signed HTTP and a fake Slack Web API."""

from __future__ import annotations

from tests.adapters.slack.conftest import SlackWorld


async def test_request_modal_card_claim_thread_resolve_survey_reopen(slack: SlackWorld) -> None:
    driver, fake = slack.driver, slack.fake

    # /request with no text opens the form within the trigger window.
    answer = await driver.command("U0SAM", "")
    assert answer.status == 200
    await slack.eventually(lambda: fake.calls_to("views.open"))
    form = fake.calls_to("views.open")[-1].args["view"]
    assert form["callback_id"] == "file_request"

    # Choosing IT shows IT's categories; submitting files the request.
    opened = list(fake.views.values())[-1]
    view = {**form, "id": opened.id, "hash": opened.hash}
    await driver.choose_in_view("U0SAM", view, "team", "it")
    await slack.eventually(lambda: fake.calls_to("views.update"))
    updated = fake.calls_to("views.update")[-1].args["view"]
    category = next(b for b in updated["blocks"] if b.get("block_id") == "category")
    assert [o["value"] for o in category["element"]["options"]] == [
        "Hardware",
        "Software",
        "Access",
    ]
    submitted = await driver.submit(
        "U0SAM",
        {**updated, "id": view["id"]},
        {
            "team": "it",
            "category": "Hardware",
            "priority": "normal",
            "title": "Laptop won't boot",
            "description": "Black screen since this morning",
        },
    )
    assert submitted.status == 200 and submitted.text == ""
    request = await slack.request("IT-1")
    assert request.category == "Hardware"
    await slack.eventually(lambda: slack.dms("U0SAM"))
    assert "Filed IT-1" in slack.dms("U0SAM")[-1].text

    # The team channel gets a card with the buttons.
    await slack.deliver()
    card = slack.card()
    assert "IT-1" in str(card.blocks)
    buttons = [
        e["text"]["text"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["Claim", "Assign…", "Waiting on requester", "Resolve"]

    # Alice claims: the card is edited in place, Sam hears someone is on it.
    await driver.press("U0ALICE", "claim", "IT-1", channel="C0ITDESK", message_ts=card.ts)
    await slack.eventually(lambda: _status(slack, "IT-1", "in_progress"))
    await slack.deliver()
    assert len([m for m in fake.messages["C0ITDESK"] if m.thread_ts in (None, m.ts)]) == 1
    assert slack.card().edited >= 1
    assert "Alice IT" in str(slack.card().blocks)
    assert "is on it" in slack.dms("U0SAM")[-1].text

    # Alice replies in the card's thread: Sam gets it by DM, attributed.
    await driver.event(
        {
            "type": "message",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "user": "U0ALICE",
            "text": "Is the power light on?",
            "ts": "1800000000.000100",
            "thread_ts": card.ts,
        }
    )
    await slack.eventually(lambda: _events(slack, "IT-1", "replied"))
    await slack.deliver()
    reply_dm = slack.dms("U0SAM")[-1]
    assert "Is the power light on?" in str(reply_dm.blocks)
    assert "Alice IT" in str(reply_dm.blocks)

    # Sam answers in that DM's thread: it lands in the card's thread.
    await driver.event(
        {
            "type": "message",
            "channel": "DU0SAM",
            "channel_type": "im",
            "user": "U0SAM",
            "text": "No light at all",
            "ts": "1800000000.000200",
            "thread_ts": reply_dm.ts,
        }
    )
    await slack.eventually(lambda: _events(slack, "IT-1", "requester_replied"))
    await slack.deliver()
    thread = [m for m in fake.messages["C0ITDESK"] if m.thread_ts == card.ts != m.ts]
    assert "No light at all" in thread[-1].text

    # Resolve asks for a note in a modal; the note reaches Sam with the survey.
    await driver.press("U0ALICE", "resolve_open", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: len(fake.calls_to("views.open")) == 2)
    resolve_form = fake.calls_to("views.open")[-1].args["view"]
    await driver.submit(
        "U0ALICE",
        {**resolve_form, "id": list(fake.views)[-1]},
        {"note": "Replaced the power supply"},
    )
    await slack.eventually(lambda: _status(slack, "IT-1", "resolved"))
    await slack.deliver()
    survey = slack.dms("U0SAM")[-1]
    assert "Replaced the power supply" in str(survey.blocks)
    ratings = [e["value"] for b in survey.blocks if b["type"] == "actions" for e in b["elements"]]
    assert ratings[:5] == ["IT-1|1", "IT-1|2", "IT-1|3", "IT-1|4", "IT-1|5"]
    assert "Resolved by" in str(slack.card().blocks) or "resolved" in slack.card().text

    # A low rating by button keeps the way back open; the survey shows the answer.
    await driver.press("U0SAM", "rate_2", "IT-1|2", channel="DU0SAM", message_ts=survey.ts)
    await slack.eventually(lambda: _events(slack, "IT-1", "rated"))
    await slack.deliver()
    assert survey.edited >= 1
    assert "2 of 5" in str(survey.blocks)
    assert "reopen" in str(survey.blocks).lower()

    # A second answer, by reaction this time, is politely refused.
    await driver.event(
        {
            "type": "reaction_added",
            "user": "U0SAM",
            "reaction": "five",
            "item": {"type": "message", "channel": "DU0SAM", "ts": survey.ts},
            "item_user": "UBOT",
        }
    )
    await slack.eventually(lambda: fake.calls_to("chat.postEphemeral"))
    assert "already rated" in fake.calls_to("chat.postEphemeral")[-1].args["text"]

    # Not fixed: Sam reopens; the team sees it in the thread and on the card.
    await driver.press("U0SAM", "reopen", "IT-1", channel="DU0SAM", message_ts=survey.ts)
    await slack.eventually(lambda: _status(slack, "IT-1", "in_progress"))
    await slack.deliver()
    thread = [m for m in fake.messages["C0ITDESK"] if m.thread_ts == card.ts != m.ts]
    assert "reopened" in thread[-1].text


async def test_survey_answered_by_reaction(slack: SlackWorld) -> None:
    assert "IT-1" in await slack.say("U0SAM", "it Monitor flickers")
    await slack.deliver()
    await slack.driver.press("U0ALICE", "resolve_open", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    form = slack.fake.calls_to("views.open")[-1].args["view"]
    await slack.driver.submit(
        "U0ALICE", {**form, "id": list(slack.fake.views)[-1]}, {"note": "New cable"}
    )
    await slack.eventually(lambda: _status(slack, "IT-1", "resolved"))
    await slack.deliver()
    survey = slack.dms("U0SAM")[-1]
    await slack.driver.event(
        {
            "type": "reaction_added",
            "user": "U0SAM",
            "reaction": "+1",
            "item": {"type": "message", "channel": "DU0SAM", "ts": survey.ts},
        }
    )
    await slack.eventually(lambda: _status(slack, "IT-1", "closed"))
    await slack.deliver()
    assert "5 of 5" in str(survey.blocks)


async def test_claim_on_a_held_request_says_who_holds_it_and_takes_nothing(
    slack: SlackWorld,
) -> None:
    driver, fake = slack.driver, slack.fake
    await slack.say("U0SAM", "it Printer on fire")
    await slack.deliver()
    card = slack.card()
    await driver.press("U0ALICE", "claim", "IT-1", channel="C0ITDESK", message_ts=card.ts)
    await slack.eventually(lambda: _status(slack, "IT-1", "in_progress"))
    await slack.deliver()
    edits = card.edited

    # Bob presses Claim on the same card: only he is told, and the request stays Alice's.
    await driver.press("U0BOB", "claim", "IT-1", channel="C0ITDESK", message_ts=card.ts)
    await slack.eventually(lambda: fake.calls_to("chat.postEphemeral"))
    told = fake.calls_to("chat.postEphemeral")[-1].args
    assert (told["user"], told["channel"]) == ("U0BOB", "C0ITDESK")
    assert told["text"] == "⚠️ IT-1 is held by Alice IT. To take it over: assign IT-1 me"
    assert "blocks" not in told  # nothing to press that would take it after all
    await slack.deliver()
    assert (await slack.request("IT-1")).assignee_id == (await _holder_id(slack, "alice"))
    assert slack.card().edited == edits

    # Taking it over is said out loud, and the history says who gave it to whom.
    taken = await slack.say("U0BOB", "assign IT-1 me")
    assert taken == "IT-1 is with Bob IT now."
    assert await slack.say("U0BOB", "priority IT-1 urgent") == "IT-1 is urgent now."
    story = await slack.say("U0SAM", "status IT-1")
    assert "claimed · Alice IT" in story
    assert "reassigned from Alice IT to Bob IT · by Bob IT" in story
    assert "priority changed: normal → urgent · Bob IT" in story


async def _holder_id(slack: SlackWorld, name: str) -> int:
    from sqlalchemy import select

    from models.directory import Person

    async with slack.runtime.sessions() as session:
        found = await session.scalar(select(Person.id).where(Person.email == f"{name}@example.com"))
        assert found is not None
        return found


async def _status(slack: SlackWorld, key: str, status: str) -> bool:
    try:
        return (await slack.request(key)).status == status
    except AssertionError:
        return False


async def _events(slack: SlackWorld, key: str, kind: str) -> bool:
    from sqlalchemy import select

    from models.requests import Request, RequestEvent

    async with slack.runtime.sessions() as session:
        rows = await session.scalars(
            select(RequestEvent.kind)
            .join(Request, Request.id == RequestEvent.request_id)
            .where(Request.key == key)
        )
        return kind in list(rows)
