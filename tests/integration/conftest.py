"""A small desk for the use-case tests: two teams, a few people, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.catalog_apply import apply_catalog
from handlers.people import Identity, resolve_person
from models.catalog import Catalog, parse_catalog
from models.clock import ManualClock
from models.directory import Person

CATALOG = """
calendars:
  office:
    timezone: Europe/Berlin
    hours: {mon-fri: "09:00-17:00"}
    holidays: {country: DE, dates: [2026-12-24]}
  always: 24x7
people:
  - {email: sam@example.com, name: Sam Sales, department: Sales, timezone: Europe/Berlin}
  - {email: alice@example.com, name: Alice IT, department: Operations}
  - {email: bob@example.com, name: Bob IT, department: Operations}
  - {email: carol@example.com, name: Carol Lead, department: Operations}
  - {email: fay@example.com, name: Fay Finance, department: Finance, timezone: America/New_York}
admins: [carol@example.com]
teams:
  - key: it
    name: IT Service Desk
    aliases: [helpdesk, Computer]
    members: [alice@example.com, bob@example.com]
    leads: [carol@example.com]
    calendar: office
    categories: [Hardware, Software, Access]
    standards:
      urgent: {first_response: 30m, resolution: 4h}
      normal: {first_response: 4h, resolution: 3d}
      low: {first_response: 1d, resolution: 10d}
    escalation:
      - {after: 0m, notify: [leads, fay@example.com]}
      - {after: 2h, notify: [members], urgent: true}
  - key: finance
    name: Finance
    prefix: FIN
    members: [fay@example.com]
    calendar: always
    standards:
      normal: {first_response: 1h, resolution: 8h}
survey: {scale: 5, reopen_below: 3, auto_close_after: 3d}
"""

# Monday 23 November 2026, 10:00 in Berlin.
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Desk:
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    catalog: Catalog

    async def person(self, email: str) -> Person:
        async with self.sessions.begin() as session:
            return await resolve_person(session, Identity(email=email))


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(CATALOG, "test-catalog.yaml")


@pytest.fixture
async def desk(sessions: async_sessionmaker[AsyncSession], catalog: Catalog) -> Desk:
    async with sessions.begin() as session:
        await apply_catalog(session, catalog)
    return Desk(sessions, ManualClock(MONDAY_10), catalog)


@contextmanager
def statements_sent(sessions: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    """Every statement the desk's engine sends inside the block, in order, its
    whitespace collapsed ("SELECT people.id, ...", "UPDATE outbox SET ...")."""
    engine = sessions.kw["bind"].sync_engine
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        sent.append(" ".join(sql.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)
