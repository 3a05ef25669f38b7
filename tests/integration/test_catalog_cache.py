"""The catalog a serving process keeps in memory follows `catalog apply`.

Filing reads teams, standards and calendars from a copy in the process
(handlers.catalog_cache). An apply usually runs in another process: here that is
another engine on the same database, which shares nothing in memory with the
desk's. docs/architecture.md promises a filing under the applied catalog at most
REVALIDATE_SECONDS after it committed; at once when the apply ran on the desk's own
engine; and never a number taken from a retired team.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from app import build_engine, build_sessions
from handlers import catalog_cache
from handlers.catalog_apply import apply_catalog
from handlers.errors import UnknownTeam
from handlers.filing import file_request
from models.catalog import parse_catalog
from models.directory import Team
from models.requests import Request
from tests.integration.conftest import CATALOG, Desk, statements_sent

IT_NORMAL = "normal: {first_response: 4h, resolution: 3d}"
FINANCE = CATALOG[CATALOG.index("  - key: finance") : CATALOG.index("survey:")]


def changed(first_response: str = "4h", *, finance: bool = True) -> str:
    text = CATALOG.replace(IT_NORMAL, IT_NORMAL.replace("4h", first_response))
    return text if finance else text.replace(FINANCE, "")


async def hours_promised(desk: Desk, team: str = "it") -> float:
    """File a request as Sam; the first-response target it was filed under."""
    person = await desk.person("sam@example.com")
    async with desk.sessions.begin() as session:
        filed = await file_request(session, desk.clock, person, team=team, title="Printer")
    return filed.request.first_response_target_seconds / 3600


async def apply_elsewhere(database_url: str, text: str) -> float:
    """Apply through an engine of its own (as `inhouse catalog apply` does from its
    process); when it committed, in time.monotonic()."""
    engine = build_engine(database_url)
    try:
        async with build_sessions(engine).begin() as session:
            await apply_catalog(session, parse_catalog(text, "changed.yaml"))
        return time.monotonic()
    finally:
        await engine.dispose()


async def test_an_apply_from_another_process_is_filed_under_within_the_bound(
    desk: Desk, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # First the counter's way alone: no copy is old enough to be checked by time.
    monkeypatch.setattr(catalog_cache, "REVALIDATE_SECONDS", 3600.0)
    assert await hours_promised(desk) == 4  # the copy is loaded
    with statements_sent(desk.sessions) as sent:
        await apply_elsewhere(database_url, changed("2h"))
        # This filing uses the copy (it reads no team, standard or calendar), and its
        # counter sees the new generation ...
        assert await hours_promised(desk) == 4
    catalog = ("teams", "service_standards", "calendars", "catalog_generation")
    selects = [" ".join(s.split()[:4]) for s in sent if s.startswith("SELECT")]
    assert not [s for s in selects if any(table in s for table in catalog)]
    # ... so the next one is filed under the applied standard.
    assert await hours_promised(desk) == 2

    # Then the documented bound: a process that filed nothing since the apply
    # committed checks the generation once its copy is older than the bound.
    monkeypatch.undo()
    committed = await apply_elsewhere(database_url, changed("3h"))
    await asyncio.sleep(catalog_cache.REVALIDATE_SECONDS - (time.monotonic() - committed))
    assert await hours_promised(desk) == 3


async def test_a_team_retired_or_added_elsewhere_counts_at_once(
    desk: Desk, database_url: str
) -> None:
    assert await hours_promised(desk, "finance") == 1
    await apply_elsewhere(database_url, changed(finance=False))

    # The copy still lists finance, but its counter is the database's, and a
    # retired team takes no number: refused, with the teams there are now.
    with pytest.raises(UnknownTeam) as refused:
        await hours_promised(desk, "finance")
    assert refused.value.choices == ["it"]
    async with desk.sessions() as session:
        filed = await session.scalar(select(func.count()).select_from(Request))
        finance = await session.scalar(select(Team).where(Team.key == "finance"))
    assert filed == 1
    assert finance is not None and finance.last_number == 1

    # Back in the catalog: a name the copy does not know is looked up again.
    await apply_elsewhere(database_url, changed())
    assert await hours_promised(desk, "finance") == 1


async def test_a_filing_right_after_an_apply_in_this_process_uses_the_new_standard(
    desk: Desk,
) -> None:
    assert await hours_promised(desk) == 4
    async with desk.sessions.begin() as session:
        await apply_catalog(session, parse_catalog(changed("2h"), "changed.yaml"))
    assert await hours_promised(desk) == 2
