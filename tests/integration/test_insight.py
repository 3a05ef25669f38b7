"""Insight figures against hand-computed expectations (see insight_seed.py for the story)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from handlers.catalog_apply import apply_catalog
from handlers.errors import UnknownTeam
from handlers.insight import (
    FiveStar,
    Insight,
    PairCell,
    Recognition,
    TeamFigures,
    WeekPoint,
    insight,
    worst_cell_sentence,
    worst_cells,
)
from models.catalog import parse_catalog
from models.requests import Escalation, Request
from tests.integration.conftest import CATALOG, Desk
from tests.integration.insight_seed import Period, seed

H = 3600
PERCENTILES = ("first_response_median", "first_response_p90", "resolution_median", "resolution_p90")


async def report(desk: Desk, period: Period, team: str | None = None) -> Insight:
    async with desk.sessions() as session:
        return await insight(
            session, since=period.since, until=period.until, now=period.now, team=team
        )


async def escalations(desk: Desk) -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    async with desk.sessions() as session:
        rows = await session.execute(
            select(Request.key, Escalation.clock, Escalation.level)
            .join(Request, Request.id == Escalation.request_id)
            .order_by(Request.id, Escalation.clock, Escalation.level)
        )
        for key, clock, level in rows:
            found.setdefault((key, clock.value), []).append(level)
    return found


async def recognition_on(desk: Desk) -> None:
    async with desk.sessions.begin() as session:
        await apply_catalog(session, parse_catalog(CATALOG + "recognition: true\n", "on.yaml"))


# IT, period requests IT-2..IT-8 (IT-1 and IT-9 are outside the period but in the backlog).
IT = TeamFigures(
    team_key="it",
    team_name="IT Service Desk",
    filed=7,
    resolved=4,  # IT-2, 3, 4, 5; IT-6 was reopened, so it is not resolved
    backlog=5,  # IT-1, IT-6 (reopened), IT-7, IT-8, IT-9
    backlog_oldest_age=timedelta(days=17),  # IT-1: Fri 13 10:00 -> Mon 30 10:00
    # Answered: 600, 1800, 3600, 10800, 32400; p90 at rank 4.6 = 10800 + 0.6 * 21600
    first_response_median=timedelta(hours=1),
    first_response_p90=timedelta(seconds=23760),  # 6h36m
    # Resolved: 2400, 12600, 14400, 23400; median (12600 + 14400) / 2,
    # p90 at rank 3.7 = 14400 + 0.7 * 9000. IT-3's two days waiting do not count.
    resolution_median=timedelta(seconds=13500),  # 3h45m
    resolution_p90=timedelta(seconds=20700),  # 5h45m
    first_response_met=3 / 5,  # IT-4 (3h for 30m) and IT-6 (9h for 8h) were late
    resolution_met=3 / 4,  # IT-4 ran 6.5h for 4h
    breaches_by_level={1: 2, 2: 1},  # rung 1: IT-4 (both clocks, counted once), IT-8
    reopen_rate=2 / 5,  # IT-4 and IT-6 among IT-2..6
    csat_average=4.0,  # 5, 4 (IT-4's first rating 2 was replaced), 3
    csat_distribution={1: 0, 2: 0, 3: 1, 4: 1, 5: 1},
    csat_response_rate=3 / 5,  # IT-3 and IT-6 unanswered
    top_breached_categories=[("Hardware", 2), ("Access", 1)],  # IT-4, IT-8; IT-6
    first_response_buckets={"<1h": 2, "1-4h": 2, "4-8h": 0, "1-2d": 1, ">2d": 0},
)

FINANCE = TeamFigures(
    team_key="finance",
    team_name="Finance",
    filed=5,
    resolved=4,
    backlog=1,  # FIN-5
    backlog_oldest_age=timedelta(days=3),  # Fri 27 10:00 -> Mon 30 10:00
    # 24x7: business time is wall time. Answered: 600, 1200, 1800, 7200.
    first_response_median=timedelta(minutes=25),
    first_response_p90=timedelta(seconds=1800 + 3780),  # rank 3.7
    # Resolved: 7200, 14400, 79200, 86400
    resolution_median=timedelta(hours=13),
    resolution_p90=timedelta(seconds=79200 + 5040),
    first_response_met=3 / 4,  # FIN-2 answered after 2h
    resolution_met=2 / 4,  # FIN-2 and FIN-4 took over 8h
    breaches_by_level={},  # Finance has no ladder
    reopen_rate=0.0,
    csat_average=11 / 3,  # 5, 1, 5
    csat_distribution={1: 1, 2: 0, 3: 0, 4: 0, 5: 2},
    csat_response_rate=3 / 4,  # FIN-4 unanswered
    top_breached_categories=[],  # Finance files no categories
    first_response_buckets={"<1h": 3, "1-4h": 1, "4-8h": 0, "1-2d": 0, ">2d": 0},
)

SALES_FINANCE = PairCell("Sales", "finance", "Finance", 3, 1 / 3, 3.0)
SALES_IT = PairCell("Sales", "it", "IT Service Desk", 4, 1 / 2, 4.5)
MATRIX = [
    PairCell("(none)", "finance", "Finance", 1, None, None),
    PairCell("Finance", "it", "IT Service Desk", 2, 1.0, None),
    PairCell("Operations", "finance", "Finance", 1, 1.0, 5.0),
    PairCell("Operations", "it", "IT Service Desk", 1, 1.0, 3.0),
    SALES_FINANCE,
    SALES_IT,
]

RECOGNISED = [
    # Alice: IT-2 and IT-5 within (IT-4 not); ratings 5, 4, 3.
    Recognition("Alice IT", "it", 2, 4.0, 3),
    # Fay: FIN-1 and FIN-3 within; ratings 5, 1, 5.
    Recognition("Fay Finance", "finance", 2, pytest.approx(11 / 3), 3),  # type: ignore[arg-type]
    # Bob: IT-3 within, unrated; IT-6 is no longer resolved.
    Recognition("Bob IT", "it", 1, None, 0),
]
FIVE_STARS = [
    FiveStar("IT-2", "it", "Alice IT", "Alice saved my demo!"),
    FiveStar("FIN-1", "finance", "Fay Finance", "Quick refund, thanks Fay"),
]  # FIN-3's five stars came without a comment


async def test_team_figures_match_the_hand_computed_ones(desk: Desk) -> None:
    period = await seed(desk)
    found = await report(desk, period)
    assert [t.team_key for t in found.teams] == ["finance", "it"]
    finance, it = found.teams
    assert _same(it, IT)
    assert _same(finance, FINANCE)
    # What the sweeps left: ladder rungs, warnings (level 0) and the survey clock's
    # reminder (level 1) and IT-1's rungs before the period; only ladder rungs of
    # the period's requests count as breaches.
    assert await escalations(desk) == {
        ("IT-1", "first_response"): [0, 1, 2],
        ("IT-1", "resolution"): [0, 1, 2],
        ("IT-3", "survey"): [1],
        ("IT-4", "first_response"): [0, 1, 2],
        ("IT-4", "resolution"): [0, 1],
        ("IT-8", "first_response"): [0, 1],
        ("FIN-2", "survey"): [1, 2],
        ("FIN-4", "survey"): [1],
        ("FIN-5", "first_response"): [0],
        ("FIN-5", "resolution"): [0],  # Finance has no ladder: warnings only
    }


async def test_matrix_worst_cells_and_weeks(desk: Desk) -> None:
    period = await seed(desk)
    found = await report(desk, period)
    assert _cells(found.matrix, MATRIX)
    assert _cells(found.worst, [SALES_FINANCE, SALES_IT])  # volume >= 3 only
    assert worst_cell_sentence(found.worst[0]) == (
        "Sales → Finance: 33% within standard, CSAT 3, 3 requests"
    )
    assert found.weekly == [
        WeekPoint("finance", date(2026, 11, 23), 5, 2 / 4),
        WeekPoint("it", date(2026, 11, 16), 2, 1.0),  # IT-2, IT-3 (filed on the Friday)
        WeekPoint("it", date(2026, 11, 23), 5, 1 / 2),  # resolved IT-4 (late), IT-5
    ]
    # Recognition is off in the test catalog: nothing names a person's figures.
    assert found.recognition is None
    assert found.five_stars is None


async def test_recognition_when_the_catalog_turns_it_on(desk: Desk) -> None:
    period = await seed(desk)
    await recognition_on(desk)
    found = await report(desk, period)
    assert found.recognition == RECOGNISED
    assert found.five_stars == FIVE_STARS
    # One team, by alias: its figures, cells, weeks and people only.
    it_only = await report(desk, period, team="Computer")
    assert [t.team_key for t in it_only.teams] == ["it"]
    assert _same(it_only.teams[0], IT)
    assert _cells(it_only.matrix, [c for c in MATRIX if c.team_key == "it"])
    assert _cells(it_only.worst, [SALES_IT])
    assert [w.team_key for w in it_only.weekly] == ["it", "it"]
    assert it_only.recognition == [RECOGNISED[0], RECOGNISED[2]]
    assert it_only.five_stars == FIVE_STARS[:1]


async def test_an_unknown_team_is_refused_and_an_empty_period_is_empty(desk: Desk) -> None:
    with pytest.raises(UnknownTeam) as refused:
        await report(desk, Period(), team="plumbing")
    assert refused.value.choices == ["finance", "it"]
    found = await report(desk, Period())
    assert [t.filed for t in found.teams] == [0, 0]
    assert found.teams[1].first_response_median is None
    assert found.teams[1].csat_distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    assert found.teams[1].first_response_buckets[">2d"] == 0
    assert (found.matrix, found.worst, found.weekly) == ([], [], [])


def test_the_worst_cell_sentence() -> None:
    cell = PairCell("Sales", "finance", "Finance", 23, 0.41, 2.9)
    assert (
        worst_cell_sentence(cell) == "Sales → Finance: 41% within standard, CSAT 2.9, 23 requests"
    )
    quiet = PairCell("(none)", "it", "IT Service Desk", 1, None, None)
    assert worst_cell_sentence(quiet) == (
        "(none) → IT Service Desk: nothing resolved yet, no ratings, 1 request"
    )


def test_worst_cells_break_ties_on_the_lower_csat() -> None:
    cells = [
        PairCell("A", "it", "IT", 10, 0.5, 4.0),
        PairCell("B", "it", "IT", 10, 0.5, 2.0),
        PairCell("C", "it", "IT", 2, 0.0, 1.0),  # too few requests to judge
        PairCell("D", "it", "IT", 5, 0.9, 1.0),
        PairCell("E", "it", "IT", 5, 0.2, None),
        PairCell("F", "it", "IT", 5, None, 1.0),  # nothing resolved: no attainment
    ]
    assert [c.department for c in worst_cells(cells)] == ["E", "B", "A"]


def _same(found: TeamFigures, expected: TeamFigures) -> bool:
    """Equal, with shares and averages compared as floats, and percentiles within
    the histograms' precision (handlers.insight_percentiles)."""
    for name, want in vars(expected).items():
        got = getattr(found, name)
        if name in PERCENTILES and want is not None:
            assert got is not None and abs(got - want) < want / 16, (name, got, want)
        elif isinstance(want, float):
            assert got == pytest.approx(want), name
        else:
            assert got == want, name
    return True


def _cells(found: list[PairCell], expected: list[PairCell]) -> bool:
    assert [(c.department, c.team_key, c.team_name, c.volume) for c in found] == [
        (c.department, c.team_key, c.team_name, c.volume) for c in expected
    ]
    for got, want in zip(found, expected, strict=True):
        for name in ("met", "csat"):
            value = getattr(want, name)
            assert getattr(got, name) == (value if value is None else pytest.approx(value)), (
                got,
                name,
            )
    return True
