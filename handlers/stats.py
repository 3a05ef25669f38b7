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
    # Since the oldest notice still to be delivered became due (a notice held for
    # someone's working hours counts from then, not from when it was queued).
    oldest_pending_age_seconds: float
    outbox_in_flight: int  # handed to a platform, outcome not yet recorded
    outbox_dead_by_reason: dict[str, int]  # error code -> dead letters (bounded)
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
    # Due since: when first due for a notice never tried (next_attempt_at, which
    # only failures move), since its first failure for one being retried.
    due_since = case(
        (OutboxMessage.failing_since.is_not(None), OutboxMessage.failing_since),
        else_=OutboxMessage.next_attempt_at,
    )
    alive = OutboxMessage.dead_at.is_(None)
    pending, dead, oldest, in_flight = (
        await session.execute(
            select(
                func.count().filter(alive),
                func.count().filter(OutboxMessage.dead_at.is_not(None)),
                func.min(due_since).filter(alive, due_since <= now),
                func.count().filter(alive, OutboxMessage.attempt_started_at.is_not(None)),
            ).where(OutboxMessage.delivered_at.is_(None))
        )
    ).one()
    dead_by_reason = await session.execute(
        select(OutboxMessage.error_code, func.count())
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.dead_at.is_not(None))
        .group_by(OutboxMessage.error_code)
    )
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
        outbox_in_flight=int(in_flight or 0),
        outbox_dead_by_reason=bounded_reasons(
            # Dead letters from before codes were kept have none.
            {str(code or "unknown"): int(n) for code, n in dead_by_reason.all()}
        ),
        commands_pending=await inbox.count_waiting(session),
    )


def _aware(moment: datetime) -> datetime:
    # An aggregate bypasses the column type, so SQLite hands back a naive UTC value.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Metric labels must stay few: the most frequent reasons by name, the rest as "other".
MAX_REASONS = 20


def bounded_reasons(counts: dict[str, int]) -> dict[str, int]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:MAX_REASONS])
    rest = sum(n for _code, n in ranked[MAX_REASONS:])
    if rest:
        kept["other"] = kept.get("other", 0) + rest
    return kept
