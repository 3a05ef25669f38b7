"""Live figures for monitoring: SQL aggregates, never a loop over every row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import inbox
from models.directory import Team
from models.outbox import OutboxMessage
from models.requests import Request, resolution_within_standard


@dataclass(frozen=True)
class DeskFigures:
    requests: dict[tuple[str, str], int]  # (team key, status) -> count
    # (team key, clock, "met" | "breached") -> count of requests whose clock has ended
    standards: dict[tuple[str, str, str], int]
    outbox_pending: int
    outbox_dead: int
    oldest_pending_age_seconds: float
    commands_pending: int  # acknowledged quick-files not yet filed (handlers.inbox)


async def desk_figures(session: AsyncSession, now: datetime) -> DeskFigures:
    by_status = await session.execute(
        select(Team.key, Request.status, func.count())
        .join(Team, Team.id == Request.team_id)
        .group_by(Team.key, Request.status)
    )
    first = case(
        (Request.first_response_at <= Request.first_response_due_at, "met"), else_="breached"
    )
    resolution = case(
        (resolution_within_standard(), "met"),
        else_="breached",
    )
    first_rows = await session.execute(
        select(Team.key, first, func.count())
        .join(Team, Team.id == Request.team_id)
        .where(Request.first_response_at.is_not(None))
        .group_by(Team.key, first)
    )
    resolution_rows = await session.execute(
        select(Team.key, resolution, func.count())
        .join(Team, Team.id == Request.team_id)
        .where(Request.resolved_at.is_not(None))
        .group_by(Team.key, resolution)
    )
    pending, dead, oldest = (
        await session.execute(
            select(
                func.count().filter(OutboxMessage.dead_at.is_(None)),
                func.count().filter(OutboxMessage.dead_at.is_not(None)),
                func.min(OutboxMessage.created_at).filter(OutboxMessage.dead_at.is_(None)),
            ).where(OutboxMessage.delivered_at.is_(None))
        )
    ).one()
    standards: dict[tuple[str, str, str], int] = {}
    for clock, rows in (("first_response", first_rows), ("resolution", resolution_rows)):
        for team, outcome, count in rows.all():
            standards[(team, clock, str(outcome))] = int(count)
    oldest_age = (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    return DeskFigures(
        requests={
            (team, str(status.value if hasattr(status, "value") else status)): int(n)
            for team, status, n in by_status.all()
        },
        standards=standards,
        outbox_pending=int(pending or 0),
        outbox_dead=int(dead or 0),
        oldest_pending_age_seconds=max(oldest_age, 0.0),
        commands_pending=await inbox.count_waiting(session),
    )


def _aware(moment: datetime) -> datetime:
    # An aggregate bypasses the column type, so SQLite hands back a naive UTC value.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
