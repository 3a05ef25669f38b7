"""Who may read figures that name a person (recognition: on).

The works-council rule the catalog's `recognition` switch promises: a line that
names someone ("Alice: 12 resolved within standard", a five-star comment about
her) reaches only the leads of that person's team and the person herself. Every
other reader, and every channel (a channel is read by more people than its
team's leads), gets the team figures without the names.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.insight import Insight
from handlers.people import led_teams
from models.directory import Person


def as_seen_by(figures: Insight, *, leads_of: frozenset[str], person_id: int | None) -> Insight:
    """`figures` with only the per-person lines this reader is entitled to."""
    if figures.recognition is None and figures.five_stars is None:
        return figures  # recognition is off: nobody is named anyway

    def entitled(team_key: str, about: int | None) -> bool:
        return team_key in leads_of or (about is not None and about == person_id)

    return replace(
        figures,
        recognition=[r for r in figures.recognition or [] if entitled(r.team_key, r.person_id)],
        five_stars=[s for s in figures.five_stars or [] if entitled(s.team_key, s.person_id)],
    )


def for_a_channel(figures: Insight) -> Insight:
    """What a channel may show: nobody's personal figures."""
    return as_seen_by(figures, leads_of=frozenset(), person_id=None)


async def for_reader(session: AsyncSession, figures: Insight, reader: Person) -> Insight:
    """What this person may read of `figures`."""
    return as_seen_by(figures, leads_of=await led_teams(session, reader.id), person_id=reader.id)
