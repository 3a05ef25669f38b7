"""The insight rollups stay true: what commits maintain, what the migration backfills
and what the period's partial days read live all agree (see insight_seed.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, func, select

from app import MIGRATIONS
from handlers import insight_period
from handlers.catalog_apply import apply_catalog
from handlers.insight import Insight, PairCell, insight
from models.catalog import parse_catalog
from models.requests import Request
from tests.integration.conftest import CATALOG, Desk
from tests.integration.insight_seed import NOW, Period, seed

# Periods whose edges cut UTC days and ISO weeks, and one inside a single day.
ODD_PERIODS = [
    Period(datetime(2026, 11, 16, 9, 30, tzinfo=UTC), datetime(2026, 11, 27, 14, tzinfo=UTC)),
    Period(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC)),
    Period(datetime(2026, 11, 17, 8, tzinfo=UTC), datetime(2026, 11, 17, 16, tzinfo=UTC)),
    Period(datetime(2026, 11, 1, tzinfo=UTC), NOW + timedelta(minutes=1)),
]


async def report(desk: Desk, period: Period) -> Insight:
    async with desk.sessions() as session:
        return await insight(session, since=period.since, until=period.until, now=period.now)


async def test_partial_days_read_live_agree_with_the_rollups(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(desk)
    mixed = [await report(desk, period) for period in ODD_PERIODS]
    # No whole bucket anywhere: every figure computed from the requests themselves.
    monkeypatch.setattr(
        insight_period, "whole_buckets", lambda since, _until, _size: (date.max,) * 2
    )
    live = [await report(desk, period) for period in ODD_PERIODS]
    assert mixed == live
    async with desk.sessions() as session:
        for period, found in zip(ODD_PERIODS, mixed, strict=True):
            filed = await session.scalar(
                select(func.count()).where(
                    Request.created_at >= period.since, Request.created_at < period.until
                )
            )
            assert sum(t.filed for t in found.teams) == filed


async def test_the_migration_backfills_what_the_commits_maintained(
    desk: Desk, database_url: str
) -> None:
    periods = [Period(), *ODD_PERIODS]
    await seed(desk)
    maintained = [await report(desk, period) for period in periods]
    engine = create_engine(database_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg"))
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.downgrade(config, "0009")
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    assert [await report(desk, period) for period in periods] == maintained


async def test_a_requester_who_changes_department_moves_in_the_matrix(desk: Desk) -> None:
    period = await seed(desk)
    moved = CATALOG.replace("department: Finance", "department: Treasury")
    async with desk.sessions.begin() as session:
        await apply_catalog(session, parse_catalog(moved, "moved.yaml"))
    cells = {(c.department, c.team_key): c for c in (await report(desk, period)).matrix}
    assert ("Finance", "it") not in cells
    assert cells[("Treasury", "it")] == PairCell("Treasury", "it", "IT Service Desk", 2, 1.0, None)
