"""Applying a catalog: everything lands, twice changes nothing, filed requests keep their deal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from handlers.catalog_apply import apply_catalog
from handlers.filing import file_request
from models.catalog import EXAMPLE_CATALOG, load_catalog, parse_catalog
from models.directory import EscalationStep, Membership, Person, ServiceStandard, Team
from models.requests import Request
from models.vocabulary import Role
from tests.integration.conftest import CATALOG, Desk


async def test_example_catalog_applies_and_second_apply_changes_nothing(sessions) -> None:
    catalog = load_catalog(EXAMPLE_CATALOG)
    async with sessions.begin() as session:
        first = await apply_catalog(session, catalog)
    async with sessions.begin() as session:
        second = await apply_catalog(session, catalog)
    assert first.changed
    assert second.changes == {}
    async with sessions() as session:
        keys = list(await session.scalars(select(Team.key).order_by(Team.key)))
        people = await session.scalar(select(func.count()).select_from(Person))
    assert keys == ["facilities", "finance", "hr", "it"]
    assert people == len(catalog.people)


async def test_roles_standards_and_ladder_are_stored(desk: Desk) -> None:
    async with desk.sessions() as session:
        it = await session.scalar(select(Team).where(Team.key == "it"))
        assert it is not None
        roles = set(
            (
                await session.execute(
                    select(Person.email, Membership.role)
                    .join(Membership, Membership.person_id == Person.id)
                    .where(Membership.team_id == it.id)
                )
            ).all()
        )
        standard = await session.scalar(
            select(ServiceStandard).where(
                ServiceStandard.team_id == it.id, ServiceStandard.priority == "normal"
            )
        )
        steps = list(
            await session.scalars(select(EscalationStep).where(EscalationStep.team_id == it.id))
        )
        carol = await session.scalar(select(Person).where(Person.email == "carol@example.com"))
    assert roles == {
        ("alice@example.com", Role.MEMBER),
        ("bob@example.com", Role.MEMBER),
        ("carol@example.com", Role.LEAD),
    }
    assert standard is not None
    # 3d in a 09:00-17:00 calendar is three 8-hour working days.
    assert (standard.first_response_seconds, standard.resolution_seconds) == (4 * 3600, 24 * 3600)
    assert [(s.level, s.after_seconds, s.notify, s.urgent) for s in steps] == [
        (1, 0, ["leads", "fay@example.com"], False),
        (2, 7200, ["members"], True),
    ]
    assert carol is not None and carol.is_admin


async def test_changed_catalog_updates_in_place_and_retires_removed_teams(desk: Desk) -> None:
    changed = CATALOG.replace("aliases: [helpdesk, Computer]", "aliases: [helpdesk, pc]")
    changed = changed.replace(
        "normal: {first_response: 4h, resolution: 3d}",
        "normal: {first_response: 2h, resolution: 3d}",
    )
    finance_at = changed.index("  - key: finance")
    changed = changed[:finance_at] + changed[changed.index("survey:") :]
    async with desk.sessions.begin() as session:
        report = await apply_catalog(session, parse_catalog(changed, "changed.yaml"))
    assert report.changes["aliases added"] == ["pc"]
    assert report.changes["aliases removed"] == ["computer"]
    assert report.changes["standards changed"] == ["it:normal"]
    assert report.changes["teams retired"] == ["finance"]


async def test_open_requests_keep_the_standard_they_were_filed_under(desk: Desk) -> None:
    sam = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        filed = await file_request(session, desk.clock, sam, team="it", title="Old deal")
        promised = filed.request.first_response_due_at
    stricter = CATALOG.replace(
        "normal: {first_response: 4h, resolution: 3d}",
        "normal: {first_response: 1h, resolution: 1d}",
    )
    async with desk.sessions.begin() as session:
        await apply_catalog(session, parse_catalog(stricter, "stricter.yaml"))
    async with desk.sessions.begin() as session:
        newer = await file_request(session, desk.clock, sam, team="it", title="New deal")
    async with desk.sessions() as session:
        old = await session.scalar(select(Request).where(Request.key == "IT-1"))
    assert old is not None
    assert old.first_response_due_at == promised
    assert old.first_response_target_seconds == 4 * 3600
    assert newer.request.first_response_due_at == desk.clock.now() + timedelta(hours=1)
