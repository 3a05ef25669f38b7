"""Teams: authentication, retries, proactive chats, platform faults, Action.Execute."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from models.outbox import ConversationAddress, OutboxMessage
from models.settings import Settings
from tests.adapters.teams.conftest import TeamsWorld, start_app
from tests.adapters.teams.driver import TeamsDriver


async def test_with_an_app_id_unauthenticated_activities_get_401(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    runtime, runner = await start_app(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{database}",
            microsoft_app_id="00000000-0000-0000-0000-000000000001",
            microsoft_app_password="secret",
            microsoft_app_tenant_id="tenant-1",
        ),
        unused_tcp_port,
    )
    try:
        driver = TeamsDriver(f"http://127.0.0.1:{unused_tcp_port}", "http://127.0.0.1:9/")
        answer = await driver.say("sam", "request it Printer on fire")
        forged = await driver.post(
            driver.activity("message", "sam", text="list"),
            headers={"Authorization": "Bearer not-a-token"},
        )
        assert (answer.status, forged.status) == (401, 401)
        async with runtime.sessions() as session:
            assert list(await session.scalars(select(OutboxMessage))) == []
    finally:
        await runner.cleanup()
        await runtime.close()


async def test_installs_are_remembered_for_later_proactive_messages(teams: TeamsWorld) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.install_personal("sam")
    async with teams.runtime.sessions() as session:
        kept = {(a.kind, a.key) for a in await session.scalars(select(ConversationAddress))}
    assert ("channel", "19:team-ops@thread.tacv2") in kept
    assert ("person", "29:sam") in kept


async def test_a_retried_activity_is_handled_once(teams: TeamsWorld) -> None:
    activity = teams.driver.activity("message", "sam", text="request it Printer on fire")
    await teams.driver.post(activity)
    await teams.driver.post(activity)  # Teams resends when it saw no answer in time
    async with teams.runtime.sessions() as session:
        keys = list(await session.scalars(select(OutboxMessage.kind)))
    assert keys == ["team_card", "command_answer"]  # the card, and Sam's answer, once
    assert (await teams.request("IT-1")).title == "Printer on fire"
    told = [a for a in teams.to("a:1sam") if "Filed IT-1" in str(a["attachments"])]
    assert len(told) == 1, teams.to("a:1sam")


async def test_a_dm_to_someone_never_spoken_to_opens_a_chat(teams: TeamsWorld) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.install_personal("sam")
    await teams.driver.say("sam", "request it Printer on fire")
    await teams.deliver()
    card_id = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1].activity_id
    await teams.driver.submit(
        "alice",
        {"action": "assign", "key": "IT-1", "assignee": "bob@example.com"},
        reply_to=card_id,
        in_channel=True,
    )
    await teams.deliver()
    created = list(teams.connector.conversations.values())
    async with teams.runtime.sessions() as session:
        errors = [
            r.last_error for r in await session.scalars(select(OutboxMessage)) if r.last_error
        ]
    assert created and created[-1]["members"][0]["id"] == "29:bob", errors
    bob_chat = next(iter(teams.connector.conversations))
    assert "assigned this to you" in str(teams.to(bob_chat)[-1])


async def test_throttling_waits_and_a_blocked_user_is_a_dead_letter(teams: TeamsWorld) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.install_personal("sam")
    teams.connector.fail_next("reply", status=429, retry_after=7)
    teams.connector.fail_next("send", status=429, retry_after=7)
    await teams.driver.say("sam", "request it Printer on fire")
    await teams.deliver()
    async with teams.runtime.sessions() as session:
        waiting = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None)))
        )
    # The card and Sam's answer both wait out the throttling; neither is lost.
    assert sorted((w.kind, w.dead_at) for w in waiting) == [
        ("command_answer", None),
        ("team_card", None),
    ]
    assert all("429" in (w.last_error or "") for w in waiting)
    assert not [a for a in teams.to("a:1sam") if "Filed IT-1" in str(a.get("attachments"))]

    teams.connector.fail_next("reply", status=403, times=5)
    teams.connector.fail_next("send", status=403, times=5)
    await teams.driver.say("sam", "request finance Invoice missing")
    async with teams.runtime.sessions.begin() as session:
        for row in await session.scalars(select(OutboxMessage)):
            row.next_attempt_at = row.created_at
    await teams.deliver()
    async with teams.runtime.sessions() as session:
        dead = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.dead_at.is_not(None)))
        )
    assert dead and "cannot reach" in (dead[0].last_error or "")


async def test_action_execute_works_like_submit(teams: TeamsWorld) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.say("sam", "request it Printer on fire")
    await teams.deliver()
    card_id = [s for s in teams.channel_posts() if s.op in ("send", "reply")][-1].activity_id
    answer = await teams.driver.execute("alice", "claim", {"key": "IT-1"}, reply_to=card_id)
    assert answer.status == 200
    assert "application/vnd.microsoft.card.adaptive" in answer.body
    assert (await teams.request("IT-1")).status == "in_progress"


async def test_commands_answer_in_the_personal_chat(teams: TeamsWorld) -> None:
    await teams.driver.say("sam", "request it Printer on fire")
    await teams.driver.say("sam", "list")
    await teams.driver.say("alice", "queue")
    await teams.driver.say("sam", "status IT-1")
    await teams.driver.say("sam", "request plumbing Leak")
    answers = [str(a.activity) for a in teams.connector.sent]
    assert any("IT-1 · Printer on fire" in a for a in answers)
    assert any("IT Service Desk: 1 request in the queue" in a for a in answers)
    assert any("History:" in a for a in answers)
    assert any("There is no team called" in a and "finance, it" in a for a in answers)


async def test_a_failed_answer_is_apologised_for_in_the_persons_language(
    teams: TeamsWorld,
) -> None:
    # A refusal (nothing stored) is the one answer still given in the turn.
    teams.connector.fail_next("reply", status=500)
    german = teams.driver.activity("message", "hans", text="status IT-99", locale="de-DE")
    assert (await teams.driver.post(german)).status == 201
    assert teams.to("a:1hans")[-1]["text"] == (
        "Leider ist bei uns etwas schiefgegangen. Bitte versuchen Sie es noch einmal."
    )


async def test_when_not_even_the_apology_gets_through_the_answer_is_502(
    teams: TeamsWorld,
) -> None:
    teams.connector.fail_next("reply", status=500, times=2)
    answer = await teams.driver.say("sam", "status IT-99")  # a refusal: said in the turn
    assert answer.status == 502
    assert answer.body == "could not answer at the activity's serviceUrl"
    assert (await teams.driver.say("sam", "list")).status == 201  # and it carries on
