"""Other ways in: the message shortcut, :ticket:, DMs, assignment, the App Home, install."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from models.directory import Person
from tests.adapters.slack.conftest import SlackWorld


async def test_message_shortcut_opens_the_form_prefilled_with_a_permalink(
    slack: SlackWorld,
) -> None:
    slack.fake.add_message("C0GENERAL", "VPN drops every hour\nSince Monday", user="U0SAM")
    posted = slack.fake.messages["C0GENERAL"][-1]
    await slack.driver.shortcut("U0SAM", "C0GENERAL", posted.ts, posted.text)
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[-1].args["view"]
    values = {
        b["block_id"]: b["element"].get("initial_value")
        for b in view["blocks"]
        if b["type"] == "input"
    }
    assert values["title"] == "VPN drops every hour"
    assert values["description"] == "Since Monday"
    assert "https://" in str(view["blocks"][-1])

    await slack.driver.submit(
        "U0SAM",
        {**view, "id": "V1"},
        {
            "team": "it",
            "priority": "high",
            "title": values["title"],
            "description": values["description"],
        },
    )
    request = await slack.request("IT-1")
    assert request.priority == "high"
    assert "archives/C0GENERAL" in request.description


async def test_ticket_reaction_offers_to_file_the_message(slack: SlackWorld) -> None:
    slack.fake.add_message("C0GENERAL", "The coffee machine is broken", user="U0SAM")
    posted = slack.fake.messages["C0GENERAL"][-1]
    await slack.driver.event(
        {
            "type": "reaction_added",
            "user": "U0SAM",
            "reaction": "ticket",
            "item": {"type": "message", "channel": "C0GENERAL", "ts": posted.ts},
        }
    )
    await slack.eventually(lambda: slack.fake.calls_to("chat.postEphemeral"))
    offer = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert offer["user"] == "U0SAM"
    button = offer["blocks"][-1]["elements"][0]
    assert button["action_id"] == "file_from_message"
    await slack.driver.press("U0SAM", "file_from_message", button["value"], channel="C0GENERAL")
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[-1].args["view"]
    title = next(b for b in view["blocks"] if b.get("block_id") == "title")
    assert title["element"]["initial_value"] == "The coffee machine is broken"


async def test_ticket_on_a_reply_in_a_thread_files_that_reply(slack: SlackWorld) -> None:
    """Slack names the reacted message by its ts alone; in a thread it is not in the
    channel's history, and the thread's first message is not what was reacted to."""
    root = slack.fake.add_message("C0GENERAL", "Anyone else without wifi?", user="U0FAY")
    reply = slack.fake.add_message(
        "C0GENERAL", "The 3rd floor printer prints blank pages", user="U0SAM", thread_ts=root.ts
    )
    slack.fake.add_message("C0GENERAL", "Lunch at 12?", user="U0FAY")  # newer, top level
    await slack.driver.event(
        {
            "type": "reaction_added",
            "user": "U0SAM",
            "reaction": "ticket",
            "item": {"type": "message", "channel": "C0GENERAL", "ts": reply.ts},
        }
    )
    await slack.eventually(lambda: slack.fake.calls_to("chat.postEphemeral"))
    offer = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert offer["text"] == "The 3rd floor printer prints blank pages"
    button = offer["blocks"][-1]["elements"][0]
    assert "blank pages" in button["value"] and f"thread_ts={root.ts}" in button["value"]
    await slack.driver.press("U0SAM", "file_from_message", button["value"], channel="C0GENERAL")
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[-1].args["view"]
    title = next(b for b in view["blocks"] if b.get("block_id") == "title")
    assert title["element"]["initial_value"] == "The 3rd floor printer prints blank pages"


async def test_a_group_dm_with_the_bot_is_answered_like_a_dm_only_to_the_writer(
    slack: SlackWorld,
) -> None:
    slack.fake.add_group_dm("G0GROUP", ["U0SAM", "U0FAY"])
    await slack.driver.event(
        {
            "type": "message",
            "channel": "G0GROUP",
            "channel_type": "mpim",
            "user": "U0SAM",
            "text": "my badge stopped working",
            "ts": "1800000000.000700",
        }
    )
    await slack.eventually(lambda: slack.fake.ephemerals.get("G0GROUP"))
    offer = slack.fake.ephemerals["G0GROUP"][-1]
    assert offer.user == "U0SAM" and "File this as a request" in str(offer.blocks)
    await slack.driver.event(
        {
            "type": "message",
            "channel": "G0GROUP",
            "channel_type": "mpim",
            "user": "U0FAY",
            "text": "list",
            "ts": "1800000000.000800",
        }
    )
    await slack.eventually(lambda: len(slack.fake.ephemerals["G0GROUP"]) == 2)
    answer = slack.fake.ephemerals["G0GROUP"][-1]
    assert answer.user == "U0FAY" and "You have no open requests." in answer.text
    assert not slack.fake.messages["G0GROUP"]  # nothing the others did not ask for


async def test_a_dm_that_is_not_a_command_offers_to_file_it(slack: SlackWorld) -> None:
    await slack.driver.event(
        {
            "type": "message",
            "channel": "DU0SAM",
            "channel_type": "im",
            "user": "U0SAM",
            "text": "my badge stopped working",
            "ts": "1800000000.000500",
        }
    )
    await slack.eventually(lambda: slack.dms("U0SAM"))
    answer = slack.dms("U0SAM")[-1]
    assert "File this as a request" in str(answer.blocks)
    await slack.driver.event(
        {
            "type": "message",
            "channel": "DU0SAM",
            "channel_type": "im",
            "user": "U0SAM",
            "text": "list",
            "ts": "1800000000.000600",
        }
    )
    await slack.eventually(lambda: len(slack.dms("U0SAM")) == 2)
    assert "You have no open requests." in slack.dms("U0SAM")[-1].text


async def test_assign_picks_a_team_member_found_by_email(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.driver.press("U0ALICE", "assign_open", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[-1].args["view"]
    options = view["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    await slack.driver.submit("U0ALICE", {**view, "id": "V2"}, {"assignee": "carol@example.com"})
    await slack.deliver()
    # Carol is in the catalog by email only: Slack finds her, and we remember her id.
    assert slack.fake.calls_to("users.lookupByEmail")
    assert "assigned this to you" in slack.dms("U0CAROL")[-1].text
    async with slack.runtime.sessions() as session:
        carol = await session.scalar(select(Person).where(Person.email == "carol@example.com"))
    assert carol is not None and carol.slack_user_id == "U0CAROL"


async def test_app_home_shows_my_requests_and_my_teams_queue(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.driver.event(
        {"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "channel": "DU0ALICE"}
    )
    await slack.driver.event(
        {"type": "app_home_opened", "user": "U0SAM", "tab": "home", "channel": "DU0SAM"}
    )
    await slack.eventually(lambda: len(slack.fake.home_views) == 2)
    alice = str(slack.fake.home_views["U0ALICE"])
    sam = str(slack.fake.home_views["U0SAM"])
    assert "Queue: IT Service Desk" in alice and "Printer on fire" in alice
    assert "My requests" in sam and "Printer on fire" in sam and "Queue:" not in sam


async def test_health_is_served_beside_slack(slack: SlackWorld) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{slack.driver.base_url}/healthz") as response,
    ):
        assert response.status == 200
