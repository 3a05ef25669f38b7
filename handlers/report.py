"""The per-team summary: how each team kept its promises in a period."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.access import active_teams, find_team, team_calendar
from handlers.errors import UnknownTeam
from models.calendar import business_time_between
from models.i18n import N_
from models.requests import Request, RequestEvent, Survey
from models.vocabulary import ACTIVE_STATUSES


@dataclass(frozen=True)
class TeamSummary:
    team_key: str
    team_name: str
    filed: int
    resolved: int
    backlog: int
    median_first_response: timedelta | None  # business time
    first_response_met: float | None  # share of answered requests within the standard
    resolution_met: float | None  # share of resolved requests within the standard
    csat: float | None  # average rating
    ratings: int
    reopened: int


async def team_summaries(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    team: str | None = None,
) -> list[TeamSummary]:
    if team:
        found = await find_team(session, team)
        if found is None:
            raise UnknownTeam(N_("There is no team called '{name}'."), [], name=team)
        teams = [found]
    else:
        teams = await active_teams(session)
    summaries = []
    for chosen in teams:
        rows = list(
            (
                await session.scalars(
                    select(Request).where(
                        Request.team_id == chosen.id,
                        Request.created_at >= since,
                        Request.created_at < until,
                    )
                )
            ).unique()
        )
        ratings = list(
            await session.scalars(
                select(Survey.rating)
                .join(Request, Request.id == Survey.request_id)
                .where(
                    Request.team_id == chosen.id,
                    Request.created_at >= since,
                    Request.created_at < until,
                    Survey.rating.is_not(None),
                )
            )
        )
        reopened = await _reopened_count(session, [r.id for r in rows])
        calendar = team_calendar(chosen)
        answered = [r for r in rows if r.first_response_at is not None]
        resolved = [r for r in rows if r.resolved_at is not None]
        summaries.append(
            TeamSummary(
                team_key=chosen.key,
                team_name=chosen.name,
                filed=len(rows),
                resolved=len(resolved),
                backlog=sum(1 for r in rows if r.status in ACTIVE_STATUSES),
                median_first_response=(
                    timedelta(
                        seconds=statistics.median(
                            business_time_between(
                                r.created_at, r.first_response_at, calendar
                            ).total_seconds()
                            for r in answered
                            if r.first_response_at is not None
                        )
                    )
                    if answered
                    else None
                ),
                first_response_met=_share(
                    [
                        r.first_response_at <= r.first_response_due_at
                        for r in answered
                        if r.first_response_at is not None
                    ]
                ),
                resolution_met=_share(
                    [r.resolution_consumed_seconds <= r.resolution_target_seconds for r in resolved]
                ),
                csat=statistics.fmean(r for r in ratings if r is not None) if ratings else None,
                ratings=len(ratings),
                reopened=reopened,
            )
        )
    return summaries


async def _reopened_count(session: AsyncSession, request_ids: list[int]) -> int:
    if not request_ids:
        return 0
    rows = await session.scalars(
        select(RequestEvent.request_id)
        .where(RequestEvent.request_id.in_(request_ids), RequestEvent.kind == "reopened")
        .distinct()
    )
    return len(list(rows))


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
