"""Reading what the desk queued to tell people, as (kind, recipient) pairs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.directory import Person, Team
from models.outbox import OutboxMessage


async def queued(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    """Every notice queued so far: (kind, '#team' or email), oldest first."""
    return [(kind, who) for kind, who, _ in await queued_with_payload(sessions)]


async def queued_with_payload(
    sessions: async_sessionmaker[AsyncSession],
) -> list[tuple[str, str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        result = []
        for row in rows:
            if row.recipient_team_id is not None:
                team = await session.get(Team, row.recipient_team_id)
                assert team is not None
                who = f"#{team.key}"
            else:
                person = await session.get(Person, row.recipient_person_id)
                assert person is not None
                who = person.email or person.display_name
            result.append((row.kind, who, row.payload))
        return result
