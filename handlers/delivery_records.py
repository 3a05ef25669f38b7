"""What a delivery leaves behind besides the delivered mark: where living messages
sit on a platform (to edit them later) and which posts belong to which request
(so replies and reactions find it)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.notices import NoticeKind
from models.outbox import MessageRef, ThreadLink

# Messages that live on and are edited in place; the rest are posted once.
LIVING_MESSAGES = {
    NoticeKind.TEAM_CARD.value: "team_card",
    NoticeKind.RESOLVED.value: "survey",
    NoticeKind.SURVEY_ANSWERED.value: "survey",
}

# The living messages of a request on a channel, by purpose.
LivingRefs = dict[tuple[int, str], dict[str, dict[str, Any]]]


_refs: Table = cast(Table, MessageRef.__table__)
_links: Table = cast(Table, ThreadLink.__table__)

# Built once and reused with bind parameters (one of each per delivered notice):
# an expression built per call costs more CPU than running it.
_LIVING_READ = select(_refs.c.request_id, _refs.c.channel, _refs.c.purpose, _refs.c.ref).where(
    _refs.c.request_id.in_(bindparam("request_ids", expanding=True))
)


@functools.cache
def _link_insert(dialect: str) -> Insert:
    """Record a post; an edit of a message we already know keeps its first link."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(_links).on_conflict_do_nothing(
        index_elements=["channel", "conversation", "message"]
    )


@functools.cache
def _living_upsert(dialect: str) -> Insert:
    """Record where a living message sits now, replacing what was known of it."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    living = insert(_refs)
    return living.on_conflict_do_update(
        index_elements=["request_id", "channel", "purpose", "target"],
        set_={"ref": living.excluded.ref, "updated_at": living.excluded.updated_at},
    )


async def living_refs(session: AsyncSession, request_ids: Collection[int]) -> LivingRefs:
    """The living messages of these requests, by (request, channel) and purpose: read
    once for a claimed batch. A lane's notices are claimed one at a time, and the
    messages a notice edits are those of its own lane (the team card by the team's
    notices, the survey by the requester's), so what an earlier notice of the lane
    left is always in the read."""
    if not request_ids:
        return {}
    rows = await session.execute(_LIVING_READ, {"request_ids": sorted(request_ids)})
    refs: LivingRefs = {}
    for request_id, channel, purpose, ref in rows.all():
        refs.setdefault((request_id, channel), {})[purpose] = ref
    return refs


@dataclass(frozen=True)
class Delivery:
    """A notice delivered: the platform's reference to what it left."""

    request_id: int | None
    kind: str
    channel: str
    target: str
    audience: str  # "team" or "person"
    ref: dict[str, Any]
    now: datetime


async def remember_deliveries(session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
    """Record each post (replies find it) and each living message (edits find it):
    one upsert on its unique key for all the posts of a group, one for all the
    living messages, no look-up first."""
    links: list[dict[str, Any]] = []
    living: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for delivery in deliveries:
        if delivery.request_id is None:
            continue
        ref = delivery.ref
        if "conversation" in ref and "message" in ref:
            links.append(
                {
                    "channel": delivery.channel,
                    "conversation": str(ref["conversation"]),
                    "message": str(ref["message"]),
                    "request_id": delivery.request_id,
                    "audience": delivery.audience,
                    "kind": delivery.kind,
                    "created_at": delivery.now,
                }
            )
        purpose = LIVING_MESSAGES.get(delivery.kind)
        if purpose is not None:
            # One row per key in a statement (an upsert may not touch a row twice);
            # a later delivery of the same message is the newer reference.
            key = (delivery.request_id, delivery.channel, purpose, delivery.target)
            living[key] = {
                "request_id": delivery.request_id,
                "channel": delivery.channel,
                "purpose": purpose,
                "target": delivery.target,
                "ref": ref,
                "updated_at": delivery.now,
            }
    dialect = session.get_bind().dialect.name
    if links:
        await session.execute(_link_insert(dialect), links)
    if living:
        await session.execute(_living_upsert(dialect), list(living.values()))
