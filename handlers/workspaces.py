"""A Slack workspace that removed the app: what was still to be said there is not
left waiting for a token that will never work again.

Its pending notices to its team channels, its people and its digest channel are
dead-lettered with the reason, so `inhouse outbox` says why. A recipient who also
has a Teams address keeps the notice: Teams may still deliver it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models.directory import Person, Team
from models.outbox import OutboxMessage


def uninstalled_reason(workspace: str) -> str:
    return f"app uninstalled from workspace {workspace}"


async def abandon_workspace(
    session: AsyncSession, now: datetime, workspace: str, *, only_one: bool
) -> int:
    """Dead-letter the pending notices only this workspace could deliver; how many.
    `only_one`: it was the only workspace, so recipients that name none are its."""
    reason = uninstalled_reason(workspace)

    def placed(column: InstrumentedAttribute[str | None]) -> ColumnElement[bool]:
        return or_(column == workspace, column.is_(None)) if only_one else column == workspace

    teams = select(Team.id).where(
        Team.slack_channel.is_not(None), placed(Team.slack_workspace), Team.teams_channel.is_(None)
    )
    people = select(Person.id).where(
        Person.slack_user_id.is_not(None),
        placed(Person.slack_workspace),
        Person.teams_user_id.is_(None),
    )
    pending = (
        OutboxMessage.delivered_at.is_(None),
        OutboxMessage.dead_at.is_(None),
        # One a dispatcher is delivering right now is left to it.
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )
    dead = set(
        await session.scalars(
            select(OutboxMessage.id).where(
                *pending,
                or_(
                    OutboxMessage.recipient_team_id.in_(teams),
                    OutboxMessage.recipient_person_id.in_(people),
                ),
            )
        )
    )
    # The organisation's digest channel, and a command's answer, name their Slack
    # destination in the notice itself.
    for message in await session.scalars(
        select(OutboxMessage).where(
            *pending,
            OutboxMessage.recipient_team_id.is_(None),
            OutboxMessage.recipient_person_id.is_(None),
        )
    ):
        destination = message.payload.get("destination") or {}
        named = destination.get("slack_workspace")
        if (
            (destination.get("slack_channel") or destination.get("slack_user"))
            and not destination.get("teams_channel")
            and (named == workspace or (named is None and only_one))
        ):
            dead.add(message.id)
    if dead:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(dead))
            .values(dead_at=now, last_error=reason, lease_owner=None, lease_until=None)
        )
    return len(dead)
