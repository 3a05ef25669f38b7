"""Someone acting again is not read again, and still acts as who they are now.

handlers.people_cache keeps the person behind an identity in the process. These
tests try to make it act on a stale or a never-stored person: a department and a
language moved by an apply in another process, an enrolment that was rolled back,
a profile that changed, and a copy older than KEEP_SECONDS.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from app import build_engine, build_sessions
from handlers import catalog_cache, people_cache
from handlers.catalog_apply import apply_catalog
from handlers.filing import file_request
from handlers.people import Identity, resolve_person
from models.catalog import parse_catalog
from models.directory import Person
from models.requests import Request
from tests.integration.conftest import CATALOG, Desk, statements_sent

SAM = Identity(slack_user_id="U0SAM", email="sam@example.com", language="en")
SAM_LINE = "{email: sam@example.com, name: Sam Sales, department: Sales, timezone: Europe/Berlin}"


def people_read(sent: list[str]) -> int:
    """Reads of a person's row (the rollups' SELECTs join people for the department;
    they are not counted)."""
    return sum(1 for sql in sent if sql.startswith("SELECT people."))


async def file_as(desk: Desk, identity: Identity) -> Request:
    """What a quick-file does: resolve the person, file as them, in one transaction."""
    async with desk.sessions.begin() as session:
        person = await resolve_person(session, identity)
        filed = await file_request(session, desk.clock, person, team="it", title="Printer")
        return filed.request


async def stored_person(desk: Desk, email: str) -> Person:
    async with desk.sessions() as session:
        found = await session.scalar(select(Person).where(Person.email == email))
    assert found is not None
    return found


async def test_a_person_filing_again_is_not_read_again(desk: Desk) -> None:
    first = await file_as(desk, SAM)
    with statements_sent(desk.sessions) as sent:
        second = await file_as(desk, SAM)
    assert people_read(sent) == 0
    assert second.requester_id == first.requester_id
    # Sam is who the catalog says: the request counts under Sam's department.
    assert (await stored_person(desk, "sam@example.com")).department == "Sales"


async def test_an_apply_in_another_process_is_acted_under_within_the_bound(
    desk: Desk, database_url: str
) -> None:
    await file_as(desk, SAM)
    moved = CATALOG.replace(
        SAM_LINE,
        "{email: sam@example.com, name: Sam Sales, department: Finance,"
        " timezone: Europe/Berlin, language: de}",
    )
    assert moved != CATALOG
    engine = build_engine(database_url)
    try:
        async with build_sessions(engine).begin() as session:
            await apply_catalog(session, parse_catalog(moved, "moved.yaml"))
        committed = time.monotonic()
    finally:
        await engine.dispose()
    await asyncio.sleep(catalog_cache.REVALIDATE_SECONDS - (time.monotonic() - committed))

    async with desk.sessions.begin() as session:
        person = await resolve_person(session, SAM)
        assert (person.department, person.language) == ("Finance", "de")


async def test_an_enrolment_rolled_back_is_not_kept(desk: Desk) -> None:
    newcomer = Identity(slack_user_id="U0NEW", display_name="Nia New")
    with pytest.raises(RuntimeError):
        async with desk.sessions.begin() as session:
            await resolve_person(session, newcomer)
            raise RuntimeError("the transaction fails after the person was enrolled")
    async with desk.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Person).where(Person.slack_user_id == "U0NEW")
            )
            == 0
        )

    # Acting again enrols them for real, and files under a person that exists.
    filed = await file_as(desk, newcomer)
    async with desk.sessions() as session:
        requester = await session.get(Person, filed.requester_id)
    assert requester is not None and requester.slack_user_id == "U0NEW"


async def test_a_changed_profile_is_read_and_stored(desk: Desk) -> None:
    await file_as(desk, SAM)
    await file_as(desk, Identity(slack_user_id="U0SAM", email="sam@example.com", language="it"))
    assert (await stored_person(desk, "sam@example.com")).language == "it"
    # Back to the first profile: read again, not taken from the first copy.
    await file_as(desk, SAM)
    assert (await stored_person(desk, "sam@example.com")).language == "en"


async def test_a_copy_is_read_again_after_keep_seconds(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(people_cache, "KEEP_SECONDS", 0.2)
    await file_as(desk, SAM)
    # Another process fills a gap the catalog left (Sam's Teams id, seen there).
    async with desk.sessions.begin() as session:
        sam = await session.scalar(select(Person).where(Person.email == "sam@example.com"))
        assert sam is not None
        sam.teams_user_id = "29:sam"
    await asyncio.sleep(0.3)
    with statements_sent(desk.sessions) as sent:
        async with desk.sessions.begin() as session:
            person = await resolve_person(session, SAM)
            assert person.teams_user_id == "29:sam"
    assert people_read(sent) == 1
