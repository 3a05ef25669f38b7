"""Filing a request: the key, the promise, the team ping, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.acting import attempt_as
from bot.command_line import Command, parse
from bot.commands import needs_savepoint, run_command
from handlers.errors import InvalidInput, UnknownTeam
from handlers.filing import file_request
from handlers.people import Identity
from models.directory import Person
from models.requests import DESCRIPTION_MAX, TITLE_MAX, Request, RequestEvent
from tests.integration.conftest import Desk, statements_sent
from tests.integration.outbox_view import queued


async def file(desk: Desk, email: str, **kwargs: object):
    person = await desk.person(email)
    async with desk.sessions.begin() as session:
        return await file_request(session, desk.clock, person, **kwargs)  # type: ignore[arg-type]


async def count_requests(desk: Desk) -> int:
    async with desk.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Request)) or 0)


async def test_filing_gives_a_key_a_promise_and_pings_the_team(desk: Desk) -> None:
    filed = await file(desk, "sam@example.com", team="it", title="Laptop won't boot")

    request = filed.request
    assert filed.created
    assert request.key == "IT-1"
    assert request.status == "open"
    # Monday 10:00 Berlin + 4 business hours = Monday 14:00 Berlin (13:00 UTC).
    assert request.first_response_due_at == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    # 3 working days of 8h from Monday 10:00 = Thursday 10:00 Berlin.
    assert request.resolution_due_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert await queued(desk.sessions) == [("team_card", "#it")]


async def test_keys_count_up_per_team(desk: Desk) -> None:
    keys = [
        (await file(desk, "sam@example.com", team=team, title="Help")).request.key
        for team in ("it", "finance", "it", "IT")
    ]
    assert keys == ["IT-1", "FIN-1", "IT-2", "IT-3"]


async def test_team_found_by_alias_in_any_case(desk: Desk) -> None:
    filed = await file(desk, "sam@example.com", team="COMPUTER", title="Mouse")
    assert filed.request.team.key == "it"


async def test_unknown_team_lists_the_teams_and_files_nothing(desk: Desk) -> None:
    with pytest.raises(UnknownTeam) as refused:
        await file(desk, "sam@example.com", team="plumbing", title="Leak")
    assert refused.value.choices == ["finance", "it"]
    assert "plumbing" in refused.value.render(str)
    assert "finance, it" in refused.value.render(str)
    assert await count_requests(desk) == 0
    assert await queued(desk.sessions) == []


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"title": "   "}, "title", "what you need"),
        ({"title": "x" * (TITLE_MAX + 1)}, "title", f"limit is {TITLE_MAX}"),
        (
            {"title": "ok", "description": "y" * (DESCRIPTION_MAX + 1)},
            "description",
            f"limit is {DESCRIPTION_MAX}",
        ),
        ({"title": "ok", "category": "Plumbing"}, "category", "Hardware, Software, Access"),
        ({"title": "ok", "priority": "critical"}, "priority", "urgent, high, normal, low"),
    ],
)
async def test_bad_input_is_refused_with_the_reason_and_nothing_is_written(
    desk: Desk, kwargs: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await file(desk, "sam@example.com", team="it", **kwargs)
    assert refused.value.field == field
    assert words in refused.value.render(str)
    assert await count_requests(desk) == 0
    assert await queued(desk.sessions) == []


async def test_category_matches_case_insensitively(desk: Desk) -> None:
    filed = await file(desk, "sam@example.com", team="it", title="VPN", category="access")
    assert filed.request.category == "Access"


async def test_urgent_priority_uses_the_urgent_standard(desk: Desk) -> None:
    filed = await file(desk, "sam@example.com", team="it", title="Server down", priority="URGENT")
    assert filed.request.first_response_due_at == desk.clock.now() + timedelta(minutes=30)


async def test_priority_without_a_standard_falls_back_to_normal(desk: Desk) -> None:
    filed = await file(desk, "sam@example.com", team="finance", title="Invoice", priority="urgent")
    # Finance only publishes `normal` (1h on a 24x7 calendar).
    assert filed.request.first_response_due_at == desk.clock.now() + timedelta(hours=1)


async def test_a_platform_retry_does_not_file_twice(desk: Desk) -> None:
    first = await file(desk, "sam@example.com", team="it", title="Printer", source_ref="slack:Ev01")
    again = await file(desk, "sam@example.com", team="it", title="Printer", source_ref="slack:Ev01")
    assert again.created is False
    assert again.request.key == first.request.key
    assert await count_requests(desk) == 1
    assert await queued(desk.sessions) == [("team_card", "#it")]


async def test_filing_is_in_the_audit_log_with_the_standard(desk: Desk) -> None:
    await file(desk, "sam@example.com", team="it", title="Laptop")
    async with desk.sessions() as session:
        event = await session.scalar(select(RequestEvent))
    assert event is not None
    assert event.kind == "filed"
    assert event.data["first_response_seconds"] == 4 * 3600


async def test_a_refused_quick_file_writes_nothing_without_a_savepoint(desk: Desk) -> None:
    """The pump runs a quick-file without a savepoint (bot.commands.needs_savepoint):
    that holds only while every refusal comes before the first write."""
    sam = Identity(email="sam@example.com")
    await desk.person("sam@example.com")  # enrolled: acting as Sam writes nothing more
    sent: list[str] = []

    for typed, words in (
        ("plumbing Leak under the sink", "no team called 'plumbing'"),
        ("it " + "x" * (TITLE_MAX + 1), f"limit is {TITLE_MAX}"),
    ):
        command = parse("/request " + typed)
        assert not needs_savepoint(command)

        async def work(session: AsyncSession, person: Person, command: Command = command) -> str:
            return await run_command(session, desk.clock, person, command, str)

        with statements_sent(desk.sessions) as statements:
            said = await attempt_as(
                desk.sessions,
                sam,
                work,
                esc=str,
                default_timezone="UTC",
                savepoint=needs_savepoint(command),
            )
        sent += [sql.split()[0].upper() for sql in statements]
        assert str(said).startswith("⚠️") and words in str(said)

    # Not one write reached the database, nor a savepoint to take one back.
    assert sent and not {"INSERT", "UPDATE", "DELETE", "SAVEPOINT"} & set(sent)
    assert await count_requests(desk) == 0
    assert await queued(desk.sessions) == []
    # The team's counter was not taken: the next request is still IT-1.
    assert (await file(desk, "sam@example.com", team="it", title="Leak")).request.key == "IT-1"
