"""The life of a request after filing: the team works it, the requester answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from handlers import queries, survey, work
from handlers.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from handlers.filing import file_request
from handlers.sla import consumed_resolution_time
from models.requests import Request, RequestEvent
from tests.integration.conftest import Desk
from tests.integration.outbox_view import queued, queued_with_payload


async def file_it(desk: Desk, title: str = "Laptop won't boot") -> str:
    person = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        filed = await file_request(session, desk.clock, person, team="it", title=title)
        return filed.request.key


async def act(desk: Desk, email: str, action, *args, **kwargs):  # type: ignore[no-untyped-def]
    person = await desk.person(email)
    async with desk.sessions.begin() as session:
        return await action(session, desk.clock, person, *args, **kwargs)


async def load(desk: Desk, key: str) -> Request:
    async with desk.sessions() as session:
        found = await session.scalar(select(Request).where(Request.key == key))
        assert found is not None
        return found


async def events(desk: Desk, key: str) -> list[str]:
    async with desk.sessions() as session:
        rows = await session.scalars(
            select(RequestEvent.kind)
            .join(Request, Request.id == RequestEvent.request_id)
            .where(Request.key == key)
            .order_by(RequestEvent.id)
        )
        return list(rows)


async def test_claim_is_the_first_response_and_tells_the_requester(desk: Desk) -> None:
    key = await file_it(desk)
    desk.clock.advance(timedelta(minutes=20))
    await act(desk, "alice@example.com", work.claim, key)

    request = await load(desk, key)
    assert request.status == "in_progress"
    assert request.assignee is not None and request.assignee.email == "alice@example.com"
    assert request.first_response_at == desk.clock.now()
    assert await queued(desk.sessions) == [
        ("team_card", "#it"),
        ("first_response", "sam@example.com"),
        ("team_card", "#it"),
    ]


async def test_a_double_click_on_claim_changes_nothing_more(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.claim, key)
    again = await act(desk, "alice@example.com", work.claim, key)
    assert again.changed is False
    assert await events(desk, key) == ["filed", "claimed"]
    assert len(await queued(desk.sessions)) == 3


async def test_only_the_team_may_claim_and_a_refusal_changes_nothing(desk: Desk) -> None:
    key = await file_it(desk)
    with pytest.raises(NotFound) as refused:
        await act(desk, "fay@example.com", work.claim, key)
    # An outsider cannot tell a request they may not see from one that does not exist.
    assert refused.value.render(str) == f"There is no request {key} that you can see."
    request = await load(desk, key)
    assert request.assignee_id is None and request.first_response_at is None
    assert await events(desk, key) == ["filed"]


async def test_claiming_a_request_a_colleague_holds_is_refused_naming_them(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.claim, key)
    before = await queued(desk.sessions)
    with pytest.raises(Conflict) as refused:
        await act(desk, "bob@example.com", work.claim, key)
    assert refused.value.render(str) == (
        f"{key} is held by Alice IT. To take it over: assign {key} me"
    )
    request = await load(desk, key)
    assert request.assignee is not None and request.assignee.email == "alice@example.com"
    assert await events(desk, key) == ["filed", "claimed"]
    assert await queued(desk.sessions) == before


async def test_taking_over_says_from_whom_and_keeps_the_first_response(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.claim, key)
    claimed_at = desk.clock.now()
    desk.clock.advance(timedelta(minutes=30))
    await act(desk, "bob@example.com", work.take_over, key)
    request = await load(desk, key)
    assert request.assignee is not None and request.assignee.email == "bob@example.com"
    assert request.first_response_at == claimed_at
    story = await act(desk, "bob@example.com", queries.request_story, key)
    taken = story.events[-1]
    assert (taken[0].kind, taken[1]) == ("assigned", "Bob IT")
    assert taken[0].data == {"assignee": "Bob IT", "previous_assignee": "Alice IT"}
    # Bob took it himself: nobody needs telling but the team's card.
    assert [k for k, _ in await queued(desk.sessions)][-1] == "team_card"
    assert ("assigned", "bob@example.com") not in await queued(desk.sessions)


async def test_assigning_records_to_whom_and_priority_from_what_to_what(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.assign, key, "bob@example.com")
    await act(desk, "carol@example.com", work.set_priority, key, "urgent")
    story = await act(desk, "sam@example.com", queries.request_story, key)
    assigned, changed = story.events[-2:]
    assert (assigned[0].kind, assigned[1]) == ("assigned", "Alice IT")
    assert assigned[0].data == {"assignee": "Bob IT", "previous_assignee": None}
    assert (changed[0].kind, changed[1]) == ("priority_changed", "Carol Lead")
    assert changed[0].data == {"previous": "normal", "priority": "urgent"}


async def test_unknown_key_is_named_in_the_answer(desk: Desk) -> None:
    with pytest.raises(NotFound) as refused:
        await act(desk, "alice@example.com", work.claim, "it-99")
    assert "IT-99" in refused.value.render(str)


async def test_assign_to_a_team_member_tells_them(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.assign, key, "BOB@example.com")
    request = await load(desk, key)
    assert request.assignee is not None and request.assignee.email == "bob@example.com"
    assert ("assigned", "bob@example.com") in await queued(desk.sessions)


async def test_assign_to_someone_off_the_team_is_refused(desk: Desk) -> None:
    key = await file_it(desk)
    with pytest.raises(InvalidInput) as refused:
        await act(desk, "alice@example.com", work.assign, key, "fay@example.com")
    assert "Fay Finance is not on IT Service Desk" in refused.value.render(str)


async def test_public_reply_reaches_the_requester_and_counts_as_first_response(
    desk: Desk,
) -> None:
    key = await file_it(desk)
    await act(desk, "bob@example.com", work.reply, key, "Is it plugged in?")
    request = await load(desk, key)
    assert request.first_response_at is not None
    assert request.status == "in_progress"
    reply = [n for n in await queued_with_payload(desk.sessions) if n[0] == "reply"]
    assert reply[0][1] == "sam@example.com"
    assert reply[0][2]["text"] == "Is it plugged in?"
    assert reply[0][2]["author"] == "Bob IT"


async def test_internal_note_stays_in_the_team_thread_and_is_not_a_response(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "bob@example.com", work.reply, key, "Probably the PSU", internal=True)
    request = await load(desk, key)
    assert request.first_response_at is None
    notices = await queued_with_payload(desk.sessions)
    assert [(k, w) for k, w, _ in notices] == [("team_card", "#it"), ("team_thread", "#it")]
    assert notices[1][2]["internal"] is True


async def test_requester_reply_goes_to_the_team_and_requester_cannot_note(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "sam@example.com", work.reply, key, "Also the screen flickers")
    assert ("team_thread", "#it") in await queued(desk.sessions)
    with pytest.raises(PermissionDenied):
        await act(desk, "sam@example.com", work.reply, key, "secret", internal=True)


async def test_outsiders_cannot_write_on_a_request(desk: Desk) -> None:
    key = await file_it(desk)
    with pytest.raises(NotFound):
        await act(desk, "fay@example.com", work.reply, key, "hi")


@pytest.mark.parametrize("text", ["", "   ", "x" * 3001])
async def test_empty_or_oversized_replies_are_refused(desk: Desk, text: str) -> None:
    key = await file_it(desk)
    with pytest.raises(InvalidInput):
        await act(desk, "bob@example.com", work.reply, key, text)
    assert await events(desk, key) == ["filed"]


async def test_waiting_pauses_the_resolution_clock_and_the_requester_resumes_it(
    desk: Desk,
) -> None:
    key = await file_it(desk)  # Monday 10:00; resolution due Thursday 10:00
    desk.clock.advance(timedelta(hours=1))
    await act(desk, "alice@example.com", work.wait_on_requester, key, "Which room?")
    paused = await load(desk, key)
    assert paused.status == "waiting"
    assert paused.resolution_due_at is None
    assert consumed_resolution_time(paused) == timedelta(hours=1)
    assert ("waiting", "sam@example.com") in await queued(desk.sessions)

    # A full business day later the requester answers: the day does not count.
    desk.clock.advance(timedelta(days=1))
    await act(desk, "sam@example.com", work.reply, key, "Room 2.14")
    resumed = await load(desk, key)
    assert resumed.status == "in_progress"
    # Due moved by exactly the paused day: Friday 10:00 Berlin.
    assert resumed.resolution_due_at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


async def test_fifty_short_pauses_consume_exactly_what_one_span_would(desk: Desk) -> None:
    key = await file_it(desk)  # Monday 10:00; 3 business days to resolve
    for _ in range(50):
        desk.clock.advance(timedelta(seconds=0.7))
        await act(desk, "alice@example.com", work.wait_on_requester, key, "One more thing?")
        desk.clock.advance(timedelta(minutes=2))
        await act(desk, "sam@example.com", work.reply, key, "Here")
    request = await load(desk, key)
    assert request.status == "in_progress"
    # 50 runs of 0.7 s: 35 s, as stored and read back (whole seconds kept 0 s of it).
    assert consumed_resolution_time(request) == timedelta(seconds=35)
    # Resumed at Monday 11:40:35 Berlin with 24 business hours less 35 s to go:
    # Thursday 11:40:00 Berlin, to the second.
    assert request.resolution_due_at == datetime(2026, 11, 26, 10, 40, tzinfo=UTC)
    await act(desk, "alice@example.com", work.wait_on_requester, key)
    assert consumed_resolution_time(await load(desk, key)) == timedelta(seconds=35)


async def test_priority_change_keeps_the_consumed_time(desk: Desk) -> None:
    key = await file_it(desk)
    desk.clock.advance(timedelta(hours=2))
    await act(desk, "alice@example.com", work.wait_on_requester, key)
    await act(desk, "alice@example.com", work.set_priority, key, "urgent")
    request = await load(desk, key)
    assert request.resolution_target_seconds == 4 * 3600
    assert consumed_resolution_time(request) == timedelta(hours=2)
    assert request.resolution_due_at is None  # still paused across the change
    await act(desk, "alice@example.com", work.resume, key)
    request = await load(desk, key)
    # 2h of the 4h urgent standard are left from now (Monday 12:00 Berlin).
    assert request.resolution_due_at == desk.clock.now() + timedelta(hours=2)


async def test_resolve_needs_a_note_then_sends_it_with_the_survey(desk: Desk) -> None:
    key = await file_it(desk)
    with pytest.raises(InvalidInput) as refused:
        await act(desk, "alice@example.com", work.resolve, key, "  ")
    assert "Sam Sales" in refused.value.render(str)
    await act(desk, "alice@example.com", work.resolve, key, "Replaced the disk")
    request = await load(desk, key)
    assert request.status == "resolved" and request.resolution_note == "Replaced the disk"
    assert request.next_check_at == desk.clock.now()  # the sweep plans the survey next
    resolved = [n for n in await queued_with_payload(desk.sessions) if n[0] == "resolved"]
    assert resolved[0][1] == "sam@example.com"
    assert resolved[0][2]["note"] == "Replaced the disk"
    assert resolved[0][2]["scale"] == 5


async def test_a_good_rating_closes_the_request_and_reaches_the_team(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.resolve, key, "Fixed")
    rated = await act(desk, "sam@example.com", survey.rate, key, 5, "Great")
    assert rated.offer_reopen is False
    request = await load(desk, key)
    assert request.status == "closed"
    thread = [n for n in await queued_with_payload(desk.sessions) if n[0] == "team_thread"]
    assert thread[-1][2]["rating"] == 5 and thread[-1][2]["text"] == "Great"


async def test_a_second_answer_is_politely_refused(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.resolve, key, "Fixed")
    await act(desk, "sam@example.com", survey.rate, key, 4)
    with pytest.raises(Conflict) as refused:
        await act(desk, "sam@example.com", survey.rate, key, 1)
    assert refused.value.render(str) == "Thanks, you already rated IT-1 (4 of 5)."


async def test_only_the_requester_rates_and_within_the_scale(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.resolve, key, "Fixed")
    with pytest.raises(PermissionDenied):
        await act(desk, "alice@example.com", survey.rate, key, 5)
    with pytest.raises(InvalidInput) as refused:
        await act(desk, "sam@example.com", survey.rate, key, 6)
    assert refused.value.render(str) == "Rate from 1 to 5."


async def test_a_low_rating_offers_reopen_and_reopening_resumes_the_clock(desk: Desk) -> None:
    key = await file_it(desk)
    desk.clock.advance(timedelta(hours=3))
    await act(desk, "alice@example.com", work.claim, key)
    await act(desk, "alice@example.com", work.resolve, key, "Rebooted it")
    rated = await act(desk, "sam@example.com", survey.rate, key, 2)
    assert rated.offer_reopen is True
    assert (await load(desk, key)).status == "resolved"
    await act(desk, "sam@example.com", survey.add_comment, key, "Still broken")
    desk.clock.advance(timedelta(hours=1))
    await act(desk, "sam@example.com", survey.reopen, key, "It crashed again")
    request = await load(desk, key)
    assert request.status == "in_progress"
    assert consumed_resolution_time(request) == timedelta(hours=3)
    # 24h - 3h consumed = 21 business hours from Monday 14:00 Berlin = Thursday 11:00.
    assert request.resolution_due_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert await events(desk, key) == [
        "filed",
        "claimed",
        "resolved",
        "rated",
        "commented",
        "reopened",
    ]


async def test_only_the_requester_reopens_and_not_before_resolution(desk: Desk) -> None:
    key = await file_it(desk)
    with pytest.raises(Conflict):
        await act(desk, "sam@example.com", survey.reopen, key)
    await act(desk, "alice@example.com", work.resolve, key, "Done")
    with pytest.raises(PermissionDenied):
        await act(desk, "alice@example.com", survey.reopen, key)


async def test_a_closed_request_cannot_be_reopened_or_answered(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.resolve, key, "Done")
    await act(desk, "sam@example.com", survey.close, key)
    with pytest.raises(Conflict) as refused:
        await act(desk, "sam@example.com", survey.reopen, key)
    assert "file a new request" in refused.value.render(str)
    with pytest.raises(Conflict):
        await act(desk, "alice@example.com", work.reply, key, "ping")


async def test_resolving_again_after_reopen_asks_again(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.resolve, key, "Try 1")
    await act(desk, "sam@example.com", survey.rate, key, 1)
    await act(desk, "sam@example.com", survey.reopen, key)
    await act(desk, "alice@example.com", work.resolve, key, "Try 2")
    rated = await act(desk, "sam@example.com", survey.rate, key, 5)
    assert rated.survey.rating == 5
    assert (await load(desk, key)).status == "closed"


async def test_my_requests_and_the_team_queue_most_urgent_first(desk: Desk) -> None:
    slow = await file_it(desk, "Slow laptop")
    desk.clock.advance(timedelta(minutes=10))
    person = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        urgent = (
            await file_request(
                session, desk.clock, person, team="it", title="Server down", priority="urgent"
            )
        ).request.key
    waiting = await file_it(desk, "New monitor")
    await act(desk, "alice@example.com", work.wait_on_requester, waiting)

    mine = await act(desk, "sam@example.com", queries.my_requests)
    assert [i.request.key for i in mine] == [slow, urgent, waiting]

    queue = await act(desk, "alice@example.com", queries.team_queue)
    assert [i.request.key for i in queue.items] == [urgent, slow, waiting]
    assert queue.items[0].time_left == timedelta(minutes=30)
    assert queue.items[-1].time_left is None

    with pytest.raises(PermissionDenied):
        await act(desk, "sam@example.com", queries.team_queue)
    with pytest.raises(PermissionDenied):
        await act(desk, "fay@example.com", queries.team_queue, "it")


async def test_status_shows_the_story_to_requester_and_team_only(desk: Desk) -> None:
    key = await file_it(desk)
    await act(desk, "alice@example.com", work.claim, key)
    story = await act(desk, "sam@example.com", queries.request_story, key)
    assert [e.kind for e, _ in story.events] == ["filed", "claimed"]
    assert [name for _, name in story.events] == ["Sam Sales", "Alice IT"]
    await act(desk, "carol@example.com", queries.request_story, key)  # the lead
    with pytest.raises(NotFound):
        await act(desk, "fay@example.com", queries.request_story, key)
