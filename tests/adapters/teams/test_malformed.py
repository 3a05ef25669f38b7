"""Malformed Teams activities: a 400 (or a clear answer to a person we know), never a
500, nothing half-written, and the server carries on. In local mode, over HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from models.directory import Person
from tests.adapters.teams.conftest import TeamsWorld
from tests.adapters.teams.driver import BOT

Change = Callable[[dict[str, Any]], None]


def without(*keys: str) -> Change:
    def change(activity: dict[str, Any]) -> None:
        for key in keys:
            del activity[key]

    return change


def setting(path: str, value: Any) -> Change:
    def change(activity: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = activity
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value

    return change


def card_invoke(value: Any, name: str = "adaptiveCard/action") -> Change:
    def change(activity: dict[str, Any]) -> None:
        activity.update(type="invoke", name=name, value=value)
        activity.pop("text", None)

    return change


BODIES = {
    "not JSON": b"request it Printer on fire",
    "empty": b"",
    "truncated JSON": b'{"type": "message", "text": ',
    "a list": b"[]",
    "a string": b'"message"',
    "null": b"null",
    "a number": b"5",
    "nested past any parser's depth": b"[" * 100_000,
    "not UTF-8": b'{"type": "message", "text": "\xff\xfe"}',
}

ACTIVITIES: dict[str, Change] = {
    "no from": without("from"),
    "no conversation": without("conversation"),
    "no serviceUrl": without("serviceUrl"),
    "no recipient": without("recipient"),
    "no type": without("type"),
    "no id": without("id"),
    "no channelId": without("channelId"),
    "another channel": setting("channelId", "webchat"),
    "empty type": setting("type", ""),
    "type a number": setting("type", 5),
    "from a string": setting("from", "29:sam"),
    "from without id": setting("from", {"name": "Sam"}),
    "from.id a number": setting("from.id", 29),
    "from.id too long": setting("from.id", "29:" + "s" * 300),
    "id too long": setting("id", "1" * 500),
    "conversation a list": setting("conversation", []),
    "conversation.id null": setting("conversation.id", None),
    "channel id too long": setting("conversation.id", "19:" + "c" * 300 + ";messageid=1"),
    "serviceUrl a number": setting("serviceUrl", 8080),
    "text a number": setting("text", 5),
    "text an object": setting("text", {"text": "list"}),
    "value a string": setting("value", "claim IT-1"),
    "value a list": setting("value", [{"action": "claim"}]),
    "value a number": setting("value", 1),
    "channelData a list": setting("channelData", []),
    "channelData.tenant a string": setting("channelData", {"tenant": "tenant-1"}),
    "channelData.channel.id a number": setting("channelData", {"channel": {"id": 19}}),
    "entities a string": setting("entities", "mention"),
    "entity a number": setting("entities", [5]),
    "entity without type": setting("entities", [{"text": "<at>Inhouse</at>"}]),
    "mention of a string": setting("entities", [{"type": "mention", "mentioned": "bot"}]),
    "membersAdded a number": setting("membersAdded", 5),
    "membersAdded of strings": setting("membersAdded", ["28:inhouse-bot"]),
    "reaction type a number": setting("reactionsAdded", [{"type": 5}]),
    "timestamp not a date": setting("timestamp", "yesterday-ish"),
    "attachments an object": setting("attachments", {"contentType": "text/plain"}),
    "card invoke value a string": card_invoke("claim"),
    "card invoke action a string": card_invoke({"action": "claim"}),
    "card invoke data a list": card_invoke({"action": {"verb": "claim", "data": ["IT-1"]}}),
    "card invoke verb a number": card_invoke({"action": {"verb": 7, "data": {}}}),
    "another invoke": card_invoke({"commandId": "search"}, name="composeExtension/query"),
}


async def assert_untouched(teams: TeamsWorld, before: dict[str, int]) -> None:
    assert await teams.stored() == before
    assert teams.connector.sent == []
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{teams.driver.base_url}/healthz") as health,
    ):
        assert health.status == 200


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
async def test_a_body_that_is_no_activity_is_a_400(local_teams: TeamsWorld, body: bytes) -> None:
    before = await local_teams.stored()
    answer = await local_teams.driver.post_raw(body)
    assert answer.status == 400, answer.body
    await assert_untouched(local_teams, before)


async def test_a_body_that_is_not_json_typed_is_a_415(local_teams: TeamsWorld) -> None:
    before = await local_teams.stored()
    answer = await local_teams.driver.post_raw(b"type=message", "application/x-www-form-urlencoded")
    assert answer.status == 415
    await assert_untouched(local_teams, before)


@pytest.mark.parametrize("change", list(ACTIVITIES.values()), ids=list(ACTIVITIES))
async def test_an_activity_the_bot_cannot_read_is_a_400_and_stores_nothing(
    local_teams: TeamsWorld, change: Change
) -> None:
    activity = local_teams.driver.activity("message", "sam", text="request it Printer on fire")
    activity = copy.deepcopy(activity)
    change(activity)
    before = await local_teams.stored()
    answer = await local_teams.driver.post(activity)
    assert answer.status == 400, answer.body
    assert "not an activity" in answer.body
    await assert_untouched(local_teams, before)
    # The server carries on: the same person, well-formed, is served.
    ok = await local_teams.driver.say("sam", "request it Printer on fire")
    assert ok.status == 201
    assert (await local_teams.request("IT-1")).title == "Printer on fire"


async def test_an_unknown_activity_type_is_accepted_and_ignored(local_teams: TeamsWorld) -> None:
    before = await local_teams.stored()
    answer = await local_teams.driver.post(
        local_teams.driver.activity("holographicPing", "sam", text="list")
    )
    assert answer.status == 201
    await assert_untouched(local_teams, before)


# --- well-formed, but odd: the person we know gets a clear answer -------------------------


async def test_odd_profile_values_are_not_kept_and_the_person_is_answered(
    local_teams: TeamsWorld,
) -> None:
    teams = local_teams
    odd = teams.driver.activity(
        "message",
        "hans",
        text="list",
        locale="de-DE-" + "x" * 40,
        localTimezone="Mars/Olympus_Mons",
    )
    odd["from"]["name"] = "H" * 256  # Entra allows 256; the profile keeps 200
    assert (await teams.driver.post(odd)).status == 201
    assert "You have no open requests." in str(teams.to("a:1hans")[-1])
    async with teams.runtime.sessions() as session:
        hans = await session.scalar(select(Person).where(Person.teams_user_id == "29:hans"))
    assert hans is not None
    assert (hans.timezone, hans.language, hans.display_name) == (None, None, "H" * 200)


async def test_odd_card_data_gets_a_translated_answer(local_teams: TeamsWorld) -> None:
    teams = local_teams
    filing = teams.driver.activity("message", "sam", text="request it Drucker", locale="de-DE")
    await teams.driver.post(filing)
    submissions = [
        {"action": "rate", "key": "IT-1", "rating": "five"},
        {"action": {"verb": "claim"}, "key": ["IT-1"]},
        {"action": "claim", "key": {"$ne": None}},
    ]
    for data in submissions:
        activity = teams.driver.activity("message", "sam", value=data, replyToId="1", locale="de")
        assert (await teams.driver.post(activity)).status == 201
    answers = [str(a) for a in teams.to("a:1sam")[-3:]]
    assert "1 ist noch nicht gelöst" in answers[0], answers[0]  # IT-1, as Teams markdown
    assert "Diese Schaltfläche wird nicht mehr unterstützt." in answers[1], answers[1]
    assert "Sorry" not in " ".join(answers) and "Entschuldigung" not in " ".join(answers)
    assert (await teams.request("IT-1")).status == "open"


async def test_mentions_of_nobody_or_named_like_a_pattern_are_only_text(
    local_teams: TeamsWorld,
) -> None:
    teams = local_teams
    await teams.driver.install_in_team("alice")
    mention = "<at>Inhouse (desk</at>"
    activity = teams.driver.activity(
        "message",
        "sam",
        text=f"{mention} request it Printer on fire",
        entities=[
            {"type": "mention"},
            {"type": "mention", "mentioned": {"id": "29:fay"}},
            {"type": "mention", "text": mention, "mentioned": BOT},
        ],
        **teams.driver.channel(),
    )
    assert (await teams.driver.post(activity)).status == 201
    assert (await teams.request("IT-1")).title == "Printer on fire"
