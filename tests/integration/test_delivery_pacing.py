"""A serving process's dispatch lets the requests it is answering go first."""

from __future__ import annotations

import asyncio

from bot.traffic import Traffic
from handlers.delivery import dispatch_due
from tests.integration.conftest import Desk, statements_sent
from tests.integration.test_delivery import RecordingChannel, file_and_claim


async def test_the_dispatch_touches_no_table_while_a_request_is_being_answered(
    desk: Desk,
) -> None:
    """Not even to claim: on SQLite the claim and the first notices' in-flight writes
    take the one connection one after the other, and an acknowledgement arriving
    meanwhile waited for all of them (bench.slack_ack's paced p99, issue 14)."""
    await file_and_claim(desk)  # three notices due
    traffic = Traffic(patience=30.0)
    channel = RecordingChannel()
    with statements_sent(desk.sessions) as statements:
        with traffic.answering():
            dispatching = asyncio.create_task(
                dispatch_due(desk.sessions, desk.clock, [channel], owner="t", pace=traffic.lull)
            )
            await asyncio.sleep(0.3)
            assert statements == []
            assert channel.sent == []
        # The request is answered: a lull, and the notices go out at once.
        report = await asyncio.wait_for(dispatching, 10.0)
    assert report.delivered == 3
    assert len(channel.sent) == 3
