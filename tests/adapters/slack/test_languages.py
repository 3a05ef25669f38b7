"""Each reader in their own language, through Slack: German, Italian, English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from handlers.delivery import dispatch_due
from handlers.sweep import sweep_due
from models.clock import ManualClock
from models.directory import Person, Team
from tests.adapters.slack.conftest import SlackWorld


async def speaks(
    slack: SlackWorld, email: str | None = None, team: str | None = None, language: str = "de"
) -> None:
    async with slack.runtime.sessions.begin() as session:
        if email:
            person = await session.scalar(select(Person).where(Person.email == email))
            assert person is not None
            person.language = language
        if team:
            found = await session.scalar(select(Team).where(Team.key == team))
            assert found is not None
            found.language = language


async def test_a_german_requester_reads_german_and_may_type_german_keywords(
    slack: SlackWorld,
) -> None:
    slack.fake.add_user(
        "U0HANS",
        email="hans@example.com",
        real_name="Hans Huber",
        name="hans",
        tz="Europe/Berlin",
        locale="de-DE",
    )
    slack.fake.add_channel("DU0HANS", members=["U0HANS", slack.fake.bot_user_id])
    filed = await slack.say("U0HANS", "it Drucker brennt")
    text = filed
    assert "Anfrage IT-1 eingereicht: Drucker brennt." in text
    assert "IT Service Desk antwortet bis" in text
    listing = await slack.say("U0HANS", "liste")
    assert "Sie haben 1 offene Anfrage:" in listing
    helps = await slack.say("U0HANS", "hilfe")
    assert "/request list" in helps  # the keywords stay the same for all


async def test_an_italian_requester_answers_the_survey_in_italian(slack: SlackWorld) -> None:
    slack.fake.add_user(
        "U0GIULIA",
        email="giulia@example.com",
        real_name="Giulia Verdi",
        name="giulia",
        tz="Europe/Rome",
        locale="it-IT",
    )
    slack.fake.add_channel("DU0GIULIA", members=["U0GIULIA", slack.fake.bot_user_id])
    await slack.say("U0GIULIA", "it Monitor rotto")
    await slack.deliver()
    await slack.driver.press("U0ALICE", "resolve_open", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    form = slack.fake.calls_to("views.open")[-1].args["view"]
    assert form["title"]["text"] == "Resolve IT-1"  # Alice reads English
    await slack.driver.submit("U0ALICE", {**form, "id": "V9"}, {"note": "Cable replaced"})
    await slack.eventually(lambda: _status(slack, "resolved"))
    await slack.deliver()
    survey = slack.dms("U0GIULIA")[-1]
    assert "Com'è andata?" in str(survey.blocks)
    await slack.driver.press(
        "U0GIULIA", "rate_4", "IT-1|4", channel="DU0GIULIA", message_ts=survey.ts
    )
    await slack.eventually(lambda: _status(slack, "closed"))
    await slack.deliver()
    assert "4 su 5" in str(survey.blocks)
    stato = await slack.say("U0GIULIA", "stato IT-1")
    assert "Cronologia:" in stato


async def test_an_escalation_reaches_a_german_lead_in_german(slack: SlackWorld) -> None:
    await speaks(slack, email="carol@example.com", language="de")
    await speaks(slack, team="it", language="it")  # the IT channel reads Italian
    await slack.say("U0SAM", "it Laptop broken")
    await slack.deliver()
    assert "Prendi in carico" in str(slack.card().blocks)  # the channel's language
    later = ManualClock(datetime.now(UTC) + timedelta(hours=4, minutes=1))
    await sweep_due(slack.runtime.sessions, later)
    await dispatch_due(slack.runtime.sessions, later, slack.runtime.channels, owner="test")
    dm = str(slack.dms("U0CAROL")[-1].blocks)
    assert "wurde überschritten (Eskalationsstufe 1)" in dm
    assert "Übernehmen" in dm


async def _status(slack: SlackWorld, status: str) -> bool:
    return (await slack.request("IT-1")).status == status
