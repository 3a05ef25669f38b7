"""Remembering where a platform lets us write later (proactive messages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.outbox import ConversationAddress


async def remember_address(
    session: AsyncSession,
    channel: str,
    kind: str,
    key: str,
    reference: dict[str, Any],
    now: datetime,
) -> None:
    found = await find_address(session, channel, kind, key)
    if found is None:
        session.add(
            ConversationAddress(
                channel=channel, kind=kind, key=key, reference=reference, updated_at=now
            )
        )
    elif found.reference != reference:
        found.reference, found.updated_at = reference, now


async def find_address(
    session: AsyncSession, channel: str, kind: str, key: str
) -> ConversationAddress | None:
    return await session.scalar(
        select(ConversationAddress).where(
            ConversationAddress.channel == channel,
            ConversationAddress.kind == kind,
            ConversationAddress.key == key,
        )
    )


async def any_address(session: AsyncSession, channel: str) -> ConversationAddress | None:
    """Some address on the platform: its service URL and tenant let us open new chats."""
    return await session.scalar(
        select(ConversationAddress)
        .where(ConversationAddress.channel == channel)
        .order_by(ConversationAddress.updated_at.desc())
        .limit(1)
    )
