"""Insight: where service breaks down, per team and per requesting department, and
who serves well.

Every figure is an SQL aggregate over the period's requests (filed in
[since, until)), read from daily rollups kept in step on every change
(handlers.insight_rollup) plus the requests of the period's partial days; Python
only shapes the few grouped rows that come back. The per-team figures live in
handlers.insight_teams, the cross-team ones (department matrix, recognition,
five-star comments, weekly trend) in handlers.insight_pairs; this module
assembles them and is the one callers import from.
Figures about individual people exist only when the catalog says `recognition`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.access import active_teams, find_team
from handlers.errors import UnknownTeam
from handlers.insight_measures import BUCKETS
from handlers.insight_pairs import (
    NO_DEPARTMENT,
    FiveStar,
    PairCell,
    Recognition,
    WeekPoint,
    department_matrix,
    five_star_comments,
    recognised_people,
    weekly_trend,
)
from handlers.insight_period import Period
from handlers.insight_teams import TeamFigures, team_figures
from handlers.survey import desk_settings
from models.directory import Team
from models.i18n import N_, _, format_number, format_share, ngettext

__all__ = [
    "BUCKETS",
    "NO_DEPARTMENT",
    "FiveStar",
    "Insight",
    "PairCell",
    "Recognition",
    "TeamFigures",
    "WeekPoint",
    "insight",
    "worst_cell_sentence",
    "worst_cells",
]

WORST_CELLS = 3
WORST_MIN_VOLUME = 3


@dataclass(frozen=True)
class Insight:
    since: datetime
    until: datetime
    teams: list[TeamFigures]
    matrix: list[PairCell]
    worst: list[PairCell]
    recognition: list[Recognition] | None  # None when recognition is off
    five_stars: list[FiveStar] | None  # None when recognition is off
    weekly: list[WeekPoint]


async def insight(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    team: str | None = None,
) -> Insight:
    teams = await _teams(session, team)
    ids = [t.id for t in teams]
    period = Period(tuple(ids), since, until, session.get_bind().dialect.name)
    by_id = {t.id: t for t in teams}
    settings = await desk_settings(session)
    figures = await team_figures(session, teams, period, now, settings.survey_scale)
    matrix = await department_matrix(session, by_id, period)
    recognition: list[Recognition] | None = None
    five_stars: list[FiveStar] | None = None
    if settings.recognition:
        recognition = await recognised_people(session, by_id, period)
        five_stars = await five_star_comments(session, by_id, period)
    return Insight(
        since=since,
        until=until,
        teams=figures,
        matrix=matrix,
        worst=worst_cells(matrix),
        recognition=recognition,
        five_stars=five_stars,
        weekly=await weekly_trend(session, by_id, period),
    )


def worst_cells(cells: Sequence[PairCell]) -> list[PairCell]:
    """The cells with enough volume that meet the standard least (ties: lower CSAT)."""
    candidates = [c for c in cells if c.volume >= WORST_MIN_VOLUME and c.met is not None]
    return sorted(
        candidates,
        key=lambda c: (c.met, c.csat is None, c.csat or 0.0, -c.volume, c.department, c.team_key),
    )[:WORST_CELLS]


def worst_cell_sentence(cell: PairCell) -> str:
    """'Sales → Finance: 41% within standard, CSAT 2.9, 23 requests' for the reader."""
    department = _(NO_DEPARTMENT) if cell.department == NO_DEPARTMENT else cell.department
    met = (
        _("{share} within standard", share=format_share(cell.met))
        if cell.met is not None
        else _("nothing resolved yet")
    )
    csat = (
        _("CSAT {rating}", rating=format_number(round(cell.csat, 1)))
        if cell.csat is not None
        else _("no ratings")
    )
    volume = ngettext("{n} request", "{n} requests", cell.volume)
    return _(
        "{department} → {team}: {met}, {csat}, {volume}",
        department=department,
        team=cell.team_name,
        met=met,
        csat=csat,
        volume=volume,
    )


async def _teams(session: AsyncSession, name: str | None) -> list[Team]:
    if name is None:
        return await active_teams(session)
    found = await find_team(session, name)
    if found is None:
        choices = [t.key for t in await active_teams(session)]
        raise UnknownTeam(N_("There is no team called '{name}'."), choices, name=name.strip())
    return [found]
