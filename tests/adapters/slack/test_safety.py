"""Bad input gets a clear answer and loses nothing; forgeries and retries change nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.slack.command_pump import POLL_SECONDS
from handlers import inbox
from models.outbox import OutboxMessage
from models.requests import Request, RequestEvent
from tests.adapters.slack.conftest import SlackWorld
from tests.adapters.waiting import eventually


async def _events(slack: SlackWorld, kind: str) -> int:
    async with slack.runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(RequestEvent).where(RequestEvent.kind == kind)
            )
            or 0
        )


async def test_unsigned_wrongly_signed_and_stale_requests_get_401(slack: SlackWorld) -> None:
    body = slack.driver.command_body("U0SAM", "it Printer on fire")
    form = "application/x-www-form-urlencoded"
    unsigned = await slack.driver.post(body, form, signed=False)
    forged = await slack.driver.post(body, form, secret="not-the-secret")
    stale = await slack.driver.post(body, form, timestamp=int(time.time()) - 6 * 60)
    assert [unsigned.status, forged.status, stale.status] == [401, 401, 401]
    assert await slack.count() == 0
    assert slack.fake.calls_to("chat.postMessage") == []


async def test_quick_file_answers_with_key_and_promise_in_requester_time(
    slack: SlackWorld,
) -> None:
    sent = await slack.driver.command("U0SAM", "it Printer on fire\nThird floor, room 3.12")
    # Slack hears back at once; the answer with the key replaces that at response_url.
    assert sent.status == 200
    assert sent.json == {"response_type": "ephemeral", "text": "⏳ Filing your request…"}
    answer = await slack.answer(sent)
    assert "Filed IT-1: Printer on fire." in answer
    assert "IT Service Desk aims to respond by" in answer
    request = await slack.request("IT-1")
    assert request.description == "Third floor, room 3.12"
    assert request.priority == "normal"


async def test_a_quick_file_is_answered_by_dm_when_its_response_url_is_gone(
    slack: SlackWorld,
) -> None:
    used = slack.fake.new_response_url()
    slack.fake.responses[used].extend([{"text": "earlier"}] * 5)  # Slack allows 5 uses
    body = slack.driver.command_body("U0SAM", "it Printer on fire", response_url=used)
    sent = await slack.driver.post(body, "application/x-www-form-urlencoded")
    assert sent.status == 200
    await slack.eventually(lambda: slack.dms("U0SAM"))
    assert "Filed IT-1: Printer on fire." in slack.dms("U0SAM")[-1].text
    assert len(slack.fake.responses[used]) == 5
    assert await slack.count() == 1


async def test_unknown_team_gets_the_list_of_teams(slack: SlackWorld) -> None:
    answer = await slack.say("U0SAM", "plumbing The sink leaks")
    assert "There is no team called 'plumbing'" in answer
    assert "finance, it" in answer
    assert await slack.count() == 0


async def test_empty_and_oversized_text_is_refused_with_the_limit(slack: SlackWorld) -> None:
    empty = await slack.say("U0SAM", "it")
    long = await slack.say("U0SAM", "it " + "x" * 200)
    assert "Say in a few words what you need" in empty
    assert "the limit is 150" in long
    assert await slack.count() == 0


async def test_user_text_cannot_mention_or_spoof_links(slack: SlackWorld) -> None:
    title = "<!channel> see <http://evil.example|your bank> & <@U0BOB>"
    answer = await slack.say("U0SAM", "it " + title)
    assert "<!channel>" not in answer
    assert "&lt;!channel&gt;" in answer
    await slack.deliver()
    card_text = str(slack.card().blocks)
    assert "<!channel>" not in card_text and "<http://evil" not in card_text
    assert "&lt;http://evil.example|your bank&gt; &amp; &lt;@U0BOB&gt;" in card_text


async def test_only_the_team_may_press_its_buttons(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.deliver()
    await slack.driver.press("U0FAY", "claim", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: slack.fake.calls_to("chat.postEphemeral"))
    refusal = slack.fake.calls_to("chat.postEphemeral")[-1].args
    assert refusal["user"] == "U0FAY"
    assert refusal["text"].endswith("There is no request IT-1 that you can see.")
    assert (await slack.request("IT-1")).assignee_id is None

    await slack.driver.press("U0SAM", "resolve_open", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: len(slack.fake.calls_to("chat.postEphemeral")) == 2)
    assert slack.fake.calls_to("views.open") == []


async def test_a_double_click_claims_once(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.driver.press("U0ALICE", "claim", "IT-1", channel="C0ITDESK")
    await slack.driver.press("U0ALICE", "claim", "IT-1", channel="C0ITDESK")
    await slack.eventually(lambda: _claimed(slack))
    await slack.deliver()
    assert await _events(slack, "claimed") == 1
    first_responses = [m for m in slack.dms("U0SAM") if "is on it" in m.text]
    assert len(first_responses) == 1


async def _claimed(slack: SlackWorld) -> bool:
    return (await slack.request("IT-1")).assignee_id is not None


async def test_a_retried_event_is_handled_once(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.deliver()
    card = slack.card()
    reply = {
        "type": "message",
        "channel": "C0ITDESK",
        "channel_type": "channel",
        "user": "U0ALICE",
        "text": "On my way",
        "ts": "1800000000.000100",
        "thread_ts": card.ts,
    }
    await slack.driver.event(reply, event_id="Ev0RETRY")
    await slack.driver.event(reply, event_id="Ev0RETRY", retry=1)
    await slack.eventually(lambda: _events(slack, "replied"))
    await slack.driver.event(reply, event_id="Ev0RETRY", retry=2)
    await slack.deliver()
    assert await _events(slack, "replied") == 1
    assert len([m for m in slack.dms("U0SAM") if "On my way" in str(m.blocks)]) == 1


async def test_internal_notes_stay_in_the_team_thread(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.deliver()
    await slack.driver.event(
        {
            "type": "message",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "user": "U0BOB",
            "text": "!note toner is out again",
            "ts": "1800000000.000300",
            "thread_ts": slack.card().ts,
        }
    )
    await slack.eventually(lambda: _events(slack, "note"))
    await slack.deliver()
    assert not any("toner" in str(m.blocks) for m in slack.dms("U0SAM"))
    assert (await slack.request("IT-1")).first_response_at is None


async def test_the_bots_own_and_other_bots_messages_are_ignored(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    await slack.deliver()
    card = slack.card()
    await slack.driver.event(
        {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0X",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "text": "beep",
            "ts": "1800000000.1",
            "thread_ts": card.ts,
        }
    )
    await slack.driver.event(
        {
            "type": "message",
            "channel": "C0ITDESK",
            "channel_type": "channel",
            "user": "UBOT",
            "bot_id": "B0BOT",
            "text": "echo",
            "ts": "1800000000.2",
            "thread_ts": card.ts,
        }
    )
    await slack.deliver()
    async with slack.runtime.sessions() as session:
        kinds = list(await session.scalars(select(RequestEvent.kind)))
    assert kinds == ["filed"]


async def test_modal_errors_come_back_inline(slack: SlackWorld) -> None:
    await slack.driver.command("U0SAM", "")
    await slack.eventually(lambda: slack.fake.calls_to("views.open"))
    view = slack.fake.calls_to("views.open")[-1].args["view"]
    answer = await slack.driver.submit(
        "U0SAM",
        {**view, "id": "V0X"},
        {
            "team": "it",
            "priority": "normal",
            "title": "   ",
        },
    )
    assert answer.json == {
        "response_action": "errors",
        "errors": {"title": "Say in a few words what you need."},
    }
    assert await slack.count() == 0


async def test_delivery_survives_rate_limits_and_dead_letters_a_lost_channel(
    slack: SlackWorld,
) -> None:
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await slack.say("U0SAM", "it Printer on fire")
    await slack.deliver()  # the outbox retries later, after Slack's Retry-After
    async with slack.runtime.sessions() as session:
        pending = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None)))
        )
    assert [p.last_error for p in pending] == ["Slack: ratelimited"]
    assert pending[0].dead_at is None

    slack.fake.channels.pop("C0FIN")
    await slack.say("U0SAM", "finance Invoice missing")
    await slack.deliver()
    async with slack.runtime.sessions() as session:
        dead = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.dead_at.is_not(None)))
        )
    assert [d.last_error for d in dead] == ["Slack: channel_not_found"]
    assert await slack.count() == 2  # the requests themselves are safe


async def test_list_status_queue_and_help(slack: SlackWorld) -> None:
    await slack.say("U0SAM", "it Printer on fire")
    mine = await slack.say("U0SAM", "list")
    status = await slack.say("U0SAM", "status it-1")
    queue = await slack.say("U0ALICE", "queue")
    not_member = await slack.say("U0SAM", "queue it")
    helps = await slack.say("U0SAM", "help")
    assert "IT-1 · Printer on fire" in mine
    assert "History:" in status and "filed" in status
    assert "IT Service Desk: 1 request in the queue" in queue
    assert "Only IT Service Desk can see its queue." in not_member
    assert "/request list" in helps


async def test_requests_of_a_new_person_use_their_slack_profile(slack: SlackWorld) -> None:
    answer = await slack.say("U0NEW", "finance Where is my invoice?")
    assert "Filed FIN-1" in answer
    async with slack.runtime.sessions() as session:
        request = await session.scalar(select(Request).where(Request.key == "FIN-1"))
        assert request is not None
        assert request.requester.email == "newbie@example.com"
        assert request.requester.timezone == "America/New_York"


async def test_a_command_delivered_twice_is_filed_once(slack: SlackWorld) -> None:
    url = slack.fake.new_response_url()
    body = slack.driver.command_body("U0SAM", "it Printer on fire", response_url=url)
    first = await slack.driver.post(body, "application/x-www-form-urlencoded")
    again = await slack.driver.post(body, "application/x-www-form-urlencoded")
    assert first.status == again.status == 200
    await slack.eventually(lambda: slack.fake.responses[url])
    await slack.deliver()
    assert len(slack.fake.responses[url]) == 1
    assert await slack.count() == 1
    assert len([m for m in slack.fake.messages["C0ITDESK"] if m.thread_ts is None]) == 1


async def test_a_command_accepted_before_a_crash_is_filed_after_it(slack: SlackWorld) -> None:
    # As if a process acknowledged it and stopped before its pump got to it: the
    # inbox row is all there is, and any process's pump carries it out.
    url = slack.fake.new_response_url()
    async with slack.runtime.engine.begin() as connection:
        arrival = inbox.Arrival(
            platform="slack",
            delivery_key="trigger-before-the-crash",
            workspace="T0TEAM",
            user_id="U0SAM",
            text="it Printer on fire",
            reply_address=url,
            received_at=datetime.now(UTC),
        )
        await inbox.accept(connection, [arrival])
    await eventually(lambda: slack.fake.responses[url], within=POLL_SECONDS + 5)
    assert "Filed IT-1: Printer on fire." in slack.fake.responses[url][0]["text"]
    assert await slack.count() == 1
