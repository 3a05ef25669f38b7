"""Slack unavailable for a while: quick-files are filed, and every answer, card
and DM waits in the outbox and goes out once when Slack is back. Nothing is lost,
nothing is posted twice, nothing becomes a dead letter (docs/architecture.md,
Outbox and Inbox).

The fake Slack answers every Web API call, every post to a response_url and every
upload with 503 (or 429 with Retry-After) for 10 seconds; the desk runs its one
dispatch loop as `serve` does (scheduler.jobs), with the backoff shortened to
seconds (Runtime.retry_base / retry_cap) so the test watches recovery in time.
Figures are printed (pytest -s).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.delivery import dispatch_due
from handlers.sweep import sweep_due
from models.clock import ManualClock
from models.outbox import OutboxMessage
from scheduler.jobs import Jobs
from tests.adapters.slack.conftest import SlackWorld, running
from tests.adapters.waiting import eventually
from tests.fakes.slack_api import RESPONSE_URL_USES

OUTAGE = 10.0  # seconds: long enough for several backoffs (0.5 s doubling to 2 s)
REQUESTS = 10
REQUESTERS = ("U0SAM", "U0FAY")
KEY = re.compile(r"Filed (IT-\d+)")


@pytest.fixture
async def world(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[SlackWorld]:
    async with running(tmp_path, sqlite_template, unused_tcp_port) as world:
        world.runtime.retry_base = timedelta(seconds=0.5)
        world.runtime.retry_cap = timedelta(seconds=2)
        jobs = Jobs(world.runtime.dispatch, dispatch_interval_seconds=0.5)
        jobs.start()
        world.runtime.nudge = jobs.nudge_dispatch
        try:
            yield world
        finally:
            await jobs.stop()


async def outbox(world: SlackWorld) -> list[OutboxMessage]:
    async with world.runtime.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def all_out(world: SlackWorld, notices: int) -> None:
    """Wait until the outbox holds `notices` and each is delivered or dead."""

    async def everything_out() -> bool:
        rows = await outbox(world)
        return len(rows) == notices and all(r.delivered_at or r.dead_at for r in rows)

    await eventually(everything_out, within=OUTAGE + 40)


async def quick_files_through_an_outage(world: SlackWorld, mode: str, retry_after: int = 5) -> None:
    fake, driver = world.fake, world.driver
    # The desk has been serving (Bolt has checked its token with auth.test once).
    assert "/request" in await world.say("U0BOB", "help")
    fake.blackout(mode, OUTAGE, retry_after=retry_after)
    began = time.monotonic()
    sent = []
    for n in range(REQUESTS):
        answer = await driver.command(REQUESTERS[n % len(REQUESTERS)], f"it Broken thing {n}")
        assert answer.status == 200 and answer.json["text"] == "⏳ Filing your request…"
        sent.append(answer)
    assert fake.in_outage, "the quick-files took longer than the outage"

    await all_out(world, 2 * REQUESTS)
    back = max(0.0, time.monotonic() - (began + OUTAGE))
    rows = await outbox(world)

    # The outage was felt: calls and answers were refused while it lasted.
    assert fake.outage_refusals, "Slack was never asked during the outage"
    assert any(tries > 1 for tries in fake.response_attempts.values())
    # No dead letters; every card and every answer delivered.
    assert [r.id for r in rows if r.dead_at] == []
    assert Counter(r.kind for r in rows) == {"team_card": REQUESTS, "command_answer": REQUESTS}
    # Every requester got their key exactly once, where they asked.
    told: Counter[str] = Counter()
    for answer in sent:
        assert answer.response_url is not None
        posted = fake.responses[answer.response_url]
        assert len(posted) == 1, posted
        assert posted[0]["replace_original"] is True
        told.update(KEY.findall(posted[0]["text"]))
    for user in REQUESTERS:
        told.update(key for m in world.dms(user) for key in KEY.findall(m.text))
    keys = {f"IT-{n}" for n in range(1, REQUESTS + 1)}
    assert told == dict.fromkeys(keys, 1), told
    # Every card on the team channel exactly once.
    cards = Counter(
        match.group(0)
        for m in fake.messages["C0ITDESK"]
        if m.thread_ts in (None, m.ts) and (match := re.search(r"IT-\d+", m.text))
    )
    assert cards == dict.fromkeys(keys, 1), cards
    attempts = sum(r.attempts for r in rows)
    refused = sum(fake.outage_refusals.values())
    print(
        f"\nSlack {mode}{f' Retry-After {retry_after}s' if mode == '429' else ''} for "
        f"{OUTAGE:.0f}s, {REQUESTS} quick-files: {REQUESTS}/{REQUESTS} keys told once, "
        f"{REQUESTS}/{REQUESTS} cards posted once, 0 dead letters; {refused} calls "
        f"refused, {attempts} delivery attempts; all out {back:.1f}s after Slack was back"
    )
    assert back < 15, back


async def test_a_slack_outage_delays_answers_and_cards_and_loses_nothing(
    world: SlackWorld,
) -> None:
    await quick_files_through_an_outage(world, "503")


async def test_429s_with_retry_after_delay_and_lose_nothing(world: SlackWorld) -> None:
    await quick_files_through_an_outage(world, "429", retry_after=3)


async def test_an_answer_whose_replies_were_lost_is_not_said_again_by_dm(
    world: SlackWorld,
) -> None:
    # Slack takes every post but its replies never come back: each quick-file's
    # answer is sent again to its response_url (each post replacing the last, the
    # person sees one) until Slack says the URL is spent. Spent by the answer
    # itself, that means it is there: it is not said a second time by DM.
    fake, driver = world.fake, world.driver
    assert "/request" in await world.say("U0BOB", "help")
    fake.blackout("lost", OUTAGE)
    sent = [await driver.command("U0SAM", f"it Broken thing {n}") for n in range(3)]

    await all_out(world, 6)
    assert [r.id for r in await outbox(world) if r.dead_at] == []
    for answer in sent:
        assert answer.response_url is not None
        posted = fake.responses[answer.response_url]
        assert len(posted) == RESPONSE_URL_USES, "the URL was not used up: nothing was tested"
        assert all(p["replace_original"] for p in posted)
        assert len({p["text"] for p in posted}) == 1
    assert [m.text for m in world.dms("U0SAM") if KEY.search(m.text)] == []


async def test_an_answer_that_outlives_its_response_url_goes_by_dm(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    clock = ManualClock(datetime.now(UTC))
    async with running(tmp_path, sqlite_template, unused_tcp_port, clock=clock) as world:
        assert "/request" in await world.say("U0BOB", "help")
        world.fake.blackout("503", 120)
        sent = await world.driver.command("U0SAM", "it Printer on fire")
        assert sent.status == 200 and sent.response_url is not None
        await world.eventually(lambda: world.fake.response_attempts.get(sent.response_url))
        await world.dispatcher.settled()
        assert world.fake.responses[sent.response_url] == []
        # Slack is back after 31 minutes: the response_url is gone by then.
        clock.advance(timedelta(minutes=31))
        world.fake.end_blackout()
        await world.deliver()
        answers = [m.text for m in world.dms("U0SAM") if "Filed IT-1" in m.text]
        assert len(answers) == 1, world.dms("U0SAM")
        assert world.fake.responses[sent.response_url] == []
        assert world.fake.response_attempts[sent.response_url] == 1
        assert len([m for m in world.fake.messages["C0ITDESK"] if "IT-1" in m.text]) == 1


async def test_an_escalation_to_someone_slack_must_look_up_waits_out_an_outage(
    slack: SlackWorld,
) -> None:
    # Carol leads IT; the catalog knows her by email only, so Slack is asked who
    # she is before her DM. Slack being away is no reason to give up on her.
    await slack.say("U0SAM", "it Laptop broken")  # respond within 4h, 24x7
    later = ManualClock(datetime.now(UTC) + timedelta(hours=4, minutes=1))
    assert (await sweep_due(slack.runtime.sessions, later)).escalations[1] == 1
    slack.fake.blackout("503", 60)
    await dispatch_due(
        slack.runtime.sessions,
        later,
        slack.runtime.channels,
        owner="test",
        dead_letter_unreachable=True,
    )
    escalation = [r for r in await outbox(slack) if r.kind == "escalation"]
    assert [(r.dead_at, r.delivered_at, r.error_code) for r in escalation] == [
        (None, None, "http_5xx")
    ]
    slack.fake.end_blackout()
    later.advance(timedelta(minutes=10))
    await dispatch_due(
        slack.runtime.sessions,
        later,
        slack.runtime.channels,
        owner="test",
        dead_letter_unreachable=True,
    )
    assert [r.delivered_at is not None for r in await outbox(slack) if r.kind == "escalation"] == [
        True
    ]
    assert len([m for m in slack.dms("U0CAROL") if "has lapsed" in str(m.blocks)]) == 1


# -- answers that are not at a response_url: the form's "Filed …", the reply to a
# DM, the figures of /request stats. Each is queued with what it reports and waits
# out an outage in the outbox, like every notice.


async def _out_after_the_outage(world: SlackWorld, began: float, kinds: Counter[str]) -> float:
    """Wait until the outbox has delivered everything (nothing dead); how long after
    Slack was back the last of it went out."""

    async def everything_out() -> bool:
        rows = await outbox(world)
        return Counter(r.kind for r in rows) == kinds and all(r.delivered_at for r in rows)

    await eventually(everything_out, within=OUTAGE + 40)
    rows = await outbox(world)
    assert [(r.id, r.last_error) for r in rows if r.dead_at] == []
    assert any(r.attempts > 1 for r in rows if r.kind == "command_answer"), "never refused"
    return max(0.0, time.monotonic() - (began + OUTAGE))


async def test_the_forms_filed_dm_waits_out_an_outage_and_arrives_once(world: SlackWorld) -> None:
    fake, driver = world.fake, world.driver
    await driver.command("U0SAM", "")  # the form opens while Slack is there
    await world.eventually(lambda: fake.calls_to("views.open"))
    form = fake.calls_to("views.open")[-1].args["view"]
    opened = list(fake.views.values())[-1]
    fake.blackout("503", OUTAGE)
    began = time.monotonic()
    submitted = await driver.submit(
        "U0SAM",
        {**form, "id": opened.id, "hash": opened.hash},
        {"team": "it", "priority": "normal", "title": "Laptop won't boot"},
    )
    assert submitted.status == 200 and submitted.text == ""  # the form closes
    assert (await world.request("IT-1")).title == "Laptop won't boot"
    assert fake.in_outage and not [m for m in world.dms("U0SAM") if "IT-1" in m.text]
    back = await _out_after_the_outage(world, began, Counter({"team_card": 1, "command_answer": 1}))
    told = [m for m in world.dms("U0SAM") if "Filed IT-1" in m.text]
    assert len(told) == 1, [m.text for m in world.dms("U0SAM")]
    assert back < 15, back


async def test_the_reply_to_a_dm_waits_out_an_outage_and_arrives_once(world: SlackWorld) -> None:
    fake, driver = world.fake, world.driver
    assert "/request" in await world.say("U0BOB", "help")  # Bolt checked its token
    fake.blackout("503", OUTAGE)
    began = time.monotonic()
    for n, text in enumerate(("list", "my badge stopped working")):
        sent = await driver.event(
            {
                "type": "message",
                "channel": "DU0SAM",
                "channel_type": "im",
                "user": "U0SAM",
                "text": text,
                "ts": f"1800000000.00010{n}",
            }
        )
        assert sent.status == 200
    assert fake.in_outage
    back = await _out_after_the_outage(world, began, Counter({"command_answer": 2}))
    replies = world.dms("U0SAM")
    assert [m.text for m in replies if "You have no open requests." in m.text] == [
        "You have no open requests."
    ]
    offers = [m for m in replies if "File this as a request" in str(m.blocks)]
    assert len(offers) == 1, [m.text for m in replies]
    assert back < 15, back


async def test_the_stats_answer_and_its_chart_wait_out_an_outage_and_arrive_once(
    world: SlackWorld,
) -> None:
    fake, driver = world.fake, world.driver
    assert "Filed IT-1" in await world.say("U0SAM", "it Printer on fire")
    fake.blackout("503", OUTAGE)
    began = time.monotonic()
    sent = await driver.command("U0ALICE", "stats it 30d")
    assert sent.status == 200
    assert fake.in_outage
    back = await _out_after_the_outage(world, began, Counter({"team_card": 1, "command_answer": 2}))
    figures = [m for m in world.dms("U0ALICE") if "The last 30 days:" in m.text]
    assert len(figures) == 1, [m.text for m in world.dms("U0ALICE")]
    assert "IT Service Desk: 1 filed, 0 resolved, 1 open" in figures[0].text
    charts = [f for f in fake.files.values() if f.completed]
    assert len(charts) == 1, charts
    assert charts[0].channel_id == "DU0ALICE" and charts[0].thread_ts == figures[0].ts
    assert back < 15, back


async def test_the_reopen_confirmation_waits_out_an_outage_and_arrives_once(
    world: SlackWorld,
) -> None:
    # The confirmation of a stored change is queued with it, like every answer: the
    # button is pressed while Slack answers 503, the request is reopened at once,
    # and the "reopened" note reaches the requester once Slack is back.
    fake, driver = world.fake, world.driver
    assert "Filed IT-1" in await world.say("U0SAM", "it Printer on fire")
    assert "IT-1" in await world.say("U0ALICE", "resolve IT-1 New toner")

    async def surveyed() -> bool:
        return any("reopen" in str(m.blocks) for m in world.dms("U0SAM"))

    await eventually(surveyed, within=15)
    survey = [m for m in world.dms("U0SAM") if "reopen" in str(m.blocks)][-1]
    fake.blackout("503", OUTAGE)
    began = time.monotonic()
    pressed = await driver.press("U0SAM", "reopen", "IT-1", channel="DU0SAM", message_ts=survey.ts)
    assert pressed.status == 200
    assert (await world.request("IT-1")).status == "in_progress"
    assert fake.in_outage
    await eventually(lambda: bool(fake.ephemerals.get("DU0SAM")), within=OUTAGE + 40)
    back = max(0.0, time.monotonic() - (began + OUTAGE))
    told = [e.text for e in fake.ephemerals["DU0SAM"] if "reopened" in e.text]
    assert told == ["IT-1 is reopened; the team has been told."], fake.ephemerals["DU0SAM"]
    assert [(r.id, r.last_error) for r in await outbox(world) if r.dead_at] == []
    assert back < 15, back
