"""What came in from a platform: retries recognised, replies traced to their request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.outbox import InboundKey, ThreadLink


async def first_time(session: AsyncSession, key: str, now: datetime) -> bool:
    """True the first time a platform delivery key is seen; False for a retry.

    The key's insert belongs to the caller's transaction: if handling fails and
    rolls back, the key goes too, and the platform's retry is handled afresh.
    """
    try:
        async with session.begin_nested():
            session.add(InboundKey(key=key[:200], seen_at=now))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def thread_of(
    session: AsyncSession, channel: str, conversation: str, message: str
) -> ThreadLink | None:
    """The request a posted message belongs to, if we posted it about one."""
    return await session.scalar(
        select(ThreadLink).where(
            ThreadLink.channel == channel,
            ThreadLink.conversation == conversation,
            ThreadLink.message == message,
        )
    )
