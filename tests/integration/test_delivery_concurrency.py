"""One dispatch loop delivers to different conversations side by side, so a
platform's latency is paid once per round rather than once per notice; within a
conversation (a team's channel, a person's chat) notices still go one after
another, in order."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from handlers import notices, work
from handlers.delivery import dispatch_due
from handlers.delivery_records import Delivery, living_refs, remember_deliveries
from handlers.filing import file_request
from models.outbox import OutboxMessage, ThreadLink
from tests.adapters.waiting import eventually
from tests.integration.conftest import Desk, statements_sent
from tests.integration.fake_platform import FakePlatform

LATENCY = 0.05  # seconds a post takes to be answered


async def busy_morning(desk: Desk) -> None:
    """Six requests to two teams from two people, each claimed: cards, edits, DMs."""
    sam = await desk.person("sam@example.com")
    fay = await desk.person("fay@example.com")
    alice = await desk.person("alice@example.com")
    keys = []
    for n in range(6):
        async with desk.sessions.begin() as session:
            filed = await file_request(
                session,
                desk.clock,
                (sam, fay)[n % 2],
                team=("it", "finance")[n // 3],
                title=f"Thing {n}",
            )
            keys.append(filed.request.key)
    for key in keys[:3]:
        async with desk.sessions.begin() as session:
            await work.claim(session, desk.clock, alice, key)


async def outbox(desk: Desk) -> list[OutboxMessage]:
    async with desk.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_conversations_go_side_by_side_and_each_in_order(desk: Desk) -> None:
    await busy_morning(desk)
    platform = FakePlatform(desk.clock, latency=LATENCY)
    report = await dispatch_due(desk.sessions, desk.clock, [platform], owner="A")
    rows = await outbox(desk)
    assert report.delivered == len(rows) and all(row.delivered_at for row in rows)
    conversations = {post.conversation for post in platform.posts}
    assert len(conversations) >= 4, conversations
    assert platform.most_at_once >= 2, "one conversation at a time"
    assert platform.most_in_one_conversation == 1
    for conversation in conversations:
        posted = [post.notice for post in platform.posts if post.conversation == conversation]
        assert posted == sorted(posted), (conversation, posted)


async def test_at_most_the_given_number_of_conversations_at_once(desk: Desk) -> None:
    await busy_morning(desk)
    platform = FakePlatform(desk.clock, latency=LATENCY)
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="A", concurrency=2)
    assert platform.most_at_once == 2
    assert all(row.delivered_at for row in await outbox(desk))


async def test_answers_to_different_people_go_side_by_side(desk: Desk) -> None:
    # Answers name their address in the notice (a response_url, a user): answers to
    # different addresses go side by side, two to the same address in order.
    async with desk.sessions.begin() as session:
        for n, user in enumerate(("U1", "U2", "U3", "U1")):
            notices.answer(session, {"slack_user": user}, f"Filed IT-{n + 1}", desk.clock.now())
    platform = FakePlatform(desk.clock, latency=LATENCY)
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="A")
    assert all(row.delivered_at for row in await outbox(desk))
    assert platform.most_at_once == 3 and platform.most_in_one_conversation == 1


async def test_conversations_side_by_side_share_their_records(desk: Desk) -> None:
    # Eight answers to eight people go out at once; each is marked in flight before
    # its post and recorded after it. Recorded one transaction each, that was 16
    # outbox writes queueing for the database; written together it is a few.
    async with desk.sessions.begin() as session:
        for n in range(8):
            notices.answer(session, {"slack_user": f"U{n}"}, f"Filed IT-{n + 1}", desk.clock.now())
    platform = FakePlatform(desk.clock, hold=True)  # every post waits to be answered
    with statements_sent(desk.sessions) as sent:
        dispatching = asyncio.create_task(
            dispatch_due(desk.sessions, desk.clock, [platform], owner="A")
        )
        await eventually(lambda: len(platform.posts) == 8)
        platform.release.set()  # the platform answers all eight at once
        report = await asyncio.wait_for(dispatching, 10)
    assert report.delivered == 8 and len(platform.posts) == 8
    assert all(row.delivered_at for row in await outbox(desk))
    writes = [sql for sql in sent if sql.startswith("UPDATE outbox")]
    records = [sql for sql in writes if "lease_token + " not in sql]  # not the claims
    # The first mark and the first outcome on their own, each other seven together.
    assert len(records) == 4, records


async def test_cards_out_side_by_side_are_remembered_together(desk: Desk) -> None:
    # Two teams' cards go out at once, their outcomes recorded side by side. What
    # each left on the platform (its thread, where replies are found; its living
    # card, which claims edit) is remembered: each card is edited in place.
    sam = await desk.person("sam@example.com")
    keys = []
    for team in ("it", "finance"):
        async with desk.sessions.begin() as session:
            filed = await file_request(session, desk.clock, sam, team=team, title=f"{team} thing")
            keys.append(filed.request.key)
    platform = FakePlatform(desk.clock, hold=True)
    dispatching = asyncio.create_task(
        dispatch_due(desk.sessions, desk.clock, [platform], owner="A")
    )
    await eventually(lambda: len(platform.posts) == 2)
    platform.release.set()
    assert (await asyncio.wait_for(dispatching, 10)).delivered == 2

    for key, member in zip(keys, ("alice@example.com", "fay@example.com"), strict=True):
        async with desk.sessions.begin() as session:
            await work.claim(session, desk.clock, await desk.person(member), key)
    await dispatch_due(desk.sessions, desk.clock, [platform], owner="A")
    cards = platform.posts[:2]
    edits = [post for post in platform.posts[2:] if post.kind == "team_card"]
    assert len(edits) == 2
    assert all(post.edit for post in edits)
    assert {post.message for post in edits} == {post.message for post in cards}


async def test_a_groups_posts_and_living_messages_take_one_statement_each(desk: Desk) -> None:
    # What the outcomes of one group left on the platform is written in one upsert
    # per table; a living message delivered twice in a group keeps its newer place.
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        filed = await file_request(session, desk.clock, sam, team="it", title="Printer")
    request, now = filed.request.id, desk.clock.now()

    def card(message: str) -> Delivery:
        ref = {"conversation": "C1", "message": message}
        return Delivery(request, "team_card", "fake", "C1", "team", ref, now)

    with statements_sent(desk.sessions) as sent:
        async with desk.sessions.begin() as session:
            await remember_deliveries(session, [card("m1"), card("m2")])
    assert [sql.split(" (")[0] for sql in sent if sql.startswith("INSERT")] == [
        "INSERT INTO thread_links",
        "INSERT INTO message_refs",
    ]
    async with desk.sessions() as session:
        links = (await session.execute(select(ThreadLink.message))).scalars().all()
        refs = await living_refs(session, [request])
    assert sorted(links) == ["m1", "m2"]  # a reply to either finds the request
    assert refs[(request, "fake")]["team_card"]["message"] == "m2"
