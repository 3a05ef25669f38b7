"""What a delivery leaves behind besides the delivered mark: where living messages
sit on a platform (to edit them later) and which posts belong to which request
(so replies and reactions find it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.inbound import thread_of
from handlers.notices import NoticeKind
from models.outbox import MessageRef, ThreadLink

# Messages that live on and are edited in place; the rest are posted once.
LIVING_MESSAGES = {
    NoticeKind.TEAM_CARD.value: "team_card",
    NoticeKind.RESOLVED.value: "survey",
    NoticeKind.SURVEY_ANSWERED.value: "survey",
}


async def living_refs(
    session: AsyncSession, request_id: int | None, channel: str
) -> dict[str, dict[str, Any]]:
    """The request's living messages on `channel`, by purpose."""
    if request_id is None:
        return {}
    rows = await session.scalars(
        select(MessageRef).where(MessageRef.request_id == request_id, MessageRef.channel == channel)
    )
    return {row.purpose: row.ref for row in rows}


async def remember_delivery(
    session: AsyncSession,
    *,
    request_id: int | None,
    kind: str,
    channel: str,
    target: str,
    audience: str,
    ref: dict[str, Any],
    now: datetime,
) -> None:
    if request_id is None:
        return
    if "conversation" in ref and "message" in ref:
        await _link_thread(session, request_id, kind, channel, audience, ref, now)
    purpose = LIVING_MESSAGES.get(kind)
    if purpose is None:
        return
    existing = await session.scalar(
        select(MessageRef).where(
            and_(
                MessageRef.request_id == request_id,
                MessageRef.channel == channel,
                MessageRef.purpose == purpose,
                MessageRef.target == target,
            )
        )
    )
    if existing is None:
        session.add(
            MessageRef(
                request_id=request_id,
                channel=channel,
                purpose=purpose,
                target=target,
                ref=ref,
                updated_at=now,
            )
        )
    else:
        existing.ref, existing.updated_at = ref, now


async def _link_thread(
    session: AsyncSession,
    request_id: int,
    kind: str,
    channel: str,
    audience: str,
    ref: dict[str, Any],
    now: datetime,
) -> None:
    conversation, posted = str(ref["conversation"]), str(ref["message"])
    if await thread_of(session, channel, conversation, posted) is not None:
        return  # an edit of a message we already know
    session.add(
        ThreadLink(
            channel=channel,
            conversation=conversation,
            message=posted,
            request_id=request_id,
            audience=audience,
            kind=kind,
            created_at=now,
        )
    )
