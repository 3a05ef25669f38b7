"""The insight report as terminal tables, CSV, self-contained HTML and PNG charts.

Hand-made `Insight` instances stand in for the handler's figures, so these tests
check only the rendering: what a reader sees, in which shape.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import struct
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from rich.console import Console

from bot.reports import charts
from bot.reports.views import as_csv, as_html, as_png, as_text, matrix_csv
from handlers.insight import (
    FiveStar,
    Insight,
    PairCell,
    Recognition,
    TeamFigures,
    WeekPoint,
    worst_cell_sentence,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def team(key: str, name: str, **changes: object) -> TeamFigures:
    figures = TeamFigures(
        team_key=key,
        team_name=name,
        filed=40,
        resolved=31,
        backlog=9,
        backlog_oldest_age=timedelta(days=6),
        first_response_median=timedelta(hours=2),
        first_response_p90=timedelta(hours=9),
        resolution_median=timedelta(days=1),
        resolution_p90=timedelta(days=4),
        first_response_met=0.875,
        resolution_met=0.8,
        breaches_by_level={1: 5, 2: 2},
        reopen_rate=0.05,
        csat_average=4.25,
        csat_distribution={1: 1, 2: 1, 3: 2, 4: 6, 5: 10},
        csat_response_rate=0.645,
        top_breached_categories=[("Access", 4), ("Hardware", 3)],
        first_response_buckets={"<1h": 12, "1-4h": 15, "4-8h": 6, "1-2d": 4, ">2d": 3},
    )
    return replace(figures, **changes)


def sample_insight(**changes: object) -> Insight:
    it = team("it", "IT Service Desk")
    finance = team(
        "finance",
        "Finance",
        filed=23,
        resolved=20,
        backlog=3,
        first_response_met=0.52,
        resolution_met=0.41,
        csat_average=2.9,
        csat_distribution={1: 3, 2: 3, 3: 4, 4: 2, 5: 2},
        first_response_buckets={"<1h": 2, "1-4h": 5, "4-8h": 6, "1-2d": 6, ">2d": 4},
        top_breached_categories=[("Invoices", 7)],
    )
    sales_finance = PairCell("Sales", "finance", "Finance", 23, 0.41, 2.9)
    matrix = [
        PairCell("Operations", "it", "IT Service Desk", 25, 0.92, 4.6),
        PairCell("Sales", "it", "IT Service Desk", 15, 0.8, 4.0),
        sales_finance,
        PairCell("Operations", "finance", "Finance", 7, 0.71, None),
    ]
    weeks = [date(2026, 11, 2) + timedelta(weeks=i) for i in range(4)]
    it_met = [0.8, 0.9, 0.85, 0.95]
    finance_met = [0.6, 0.4, None, 0.5]  # a week with nothing resolved
    weekly = [WeekPoint("it", w, 10, met) for w, met in zip(weeks, it_met, strict=True)] + [
        WeekPoint("finance", w, 6, met) for w, met in zip(weeks, finance_met, strict=True)
    ]
    insight = Insight(
        since=datetime(2026, 11, 2, tzinfo=UTC),
        until=datetime(2026, 11, 30, tzinfo=UTC),
        teams=[it, finance],
        matrix=matrix,
        worst=[sales_finance],
        recognition=[
            Recognition("Alice Example", "it", 14, 4.8, 9),
            Recognition("Bob Example", "finance", 6, None, 0),
        ],
        five_stars=[FiveStar("IT-12", "it", "Alice Example", "Fixed my laptop <fast>!")],
        weekly=weekly,
    )
    return replace(insight, **changes)


def empty_insight() -> Insight:
    return Insight(
        since=datetime(2026, 11, 2, tzinfo=UTC),
        until=datetime(2026, 11, 30, tzinfo=UTC),
        teams=[],
        matrix=[],
        worst=[],
        recognition=None,
        five_stars=None,
        weekly=[],
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which must come first)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def embedded_pngs(html: str) -> list[bytes]:
    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [base64.b64decode(data, validate=True) for data in found]


def rendered_text(insight: Insight) -> str:
    console = Console(record=True, width=160, file=io.StringIO(), color_system=None)
    console.print(as_text(insight))
    return console.export_text()


# --- CSV ------------------------------------------------------------------------------


def test_csv_has_one_row_per_team_with_every_figure() -> None:
    out = io.StringIO()
    as_csv(sample_insight(), out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [
        "team",
        "team_name",
        "filed",
        "resolved",
        "backlog",
        "backlog_oldest_age_seconds",
        "first_response_median_seconds",
        "first_response_p90_seconds",
        "resolution_median_seconds",
        "resolution_p90_seconds",
        "first_response_met",
        "resolution_met",
        "breaches_total",
        "breaches_level_1",
        "breaches_level_2",
        "reopen_rate",
        "csat_average",
        "csat_ratings",
        "csat_response_rate",
        "csat_1",
        "csat_2",
        "csat_3",
        "csat_4",
        "csat_5",
        "top_breached_categories",
        "first_response_under_1h",
        "first_response_1_4h",
        "first_response_4_8h",
        "first_response_1_2d",
        "first_response_over_2d",
    ]
    assert len(rows) == 3
    it = dict(zip(rows[0], rows[1], strict=True))
    assert it == {
        "team": "it",
        "team_name": "IT Service Desk",
        "filed": "40",
        "resolved": "31",
        "backlog": "9",
        "backlog_oldest_age_seconds": "518400",
        "first_response_median_seconds": "7200",
        "first_response_p90_seconds": "32400",
        "resolution_median_seconds": "86400",
        "resolution_p90_seconds": "345600",
        "first_response_met": "0.875",
        "resolution_met": "0.800",
        "breaches_total": "7",
        "breaches_level_1": "5",
        "breaches_level_2": "2",
        "reopen_rate": "0.050",
        "csat_average": "4.25",
        "csat_ratings": "20",
        "csat_response_rate": "0.645",
        "csat_1": "1",
        "csat_2": "1",
        "csat_3": "2",
        "csat_4": "6",
        "csat_5": "10",
        "top_breached_categories": "Access:4;Hardware:3",
        "first_response_under_1h": "12",
        "first_response_1_4h": "15",
        "first_response_4_8h": "6",
        "first_response_1_2d": "4",
        "first_response_over_2d": "3",
    }
    finance = dict(zip(rows[0], rows[2], strict=True))
    assert finance["team"] == "finance"
    assert finance["resolution_met"] == "0.410"
    assert finance["top_breached_categories"] == "Invoices:7"


def test_csv_leaves_missing_figures_empty() -> None:
    quiet = team(
        "hr",
        "HR",
        filed=0,
        resolved=0,
        backlog=0,
        backlog_oldest_age=None,
        first_response_median=None,
        first_response_p90=None,
        resolution_median=None,
        resolution_p90=None,
        first_response_met=None,
        resolution_met=None,
        breaches_by_level={},
        reopen_rate=None,
        csat_average=None,
        csat_distribution={},
        csat_response_rate=None,
        top_breached_categories=[],
        first_response_buckets={},
    )
    out = io.StringIO()
    as_csv(sample_insight(teams=[quiet]), out)
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    figures = dict(zip(header, row, strict=True))
    assert "breaches_level_1" not in figures  # no ladder level was reached
    assert figures["breaches_total"] == "0"
    assert figures["first_response_median_seconds"] == ""
    assert figures["csat_average"] == ""
    assert figures["csat_ratings"] == "0"
    assert figures["first_response_under_1h"] == "0"


def test_matrix_csv_has_one_row_per_cell_and_flags_the_worst() -> None:
    out = io.StringIO()
    matrix_csv(sample_insight(), out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["department", "team", "team_name", "volume", "met", "csat", "worst"]
    assert ["Sales", "finance", "Finance", "23", "0.410", "2.90", "1"] in rows
    assert ["Operations", "finance", "Finance", "7", "0.710", "", "0"] in rows
    assert len(rows) == 5


# --- terminal -------------------------------------------------------------------------


def test_text_shows_team_figures_the_matrix_and_the_worst_cells() -> None:
    insight = sample_insight()
    text = rendered_text(insight)
    assert "Sales → Finance: 41% within standard, CSAT 2.9, 23 requests" in text
    assert worst_cell_sentence(insight.worst[0]) in text
    # The matrix: departments as rows, teams as columns, one cell per pair.
    assert "Requesting department" in text
    for figures in ("41% · 2.9 · 23", "92% · 4.6 · 25", "80% · 4 · 15", "71% · – · 7"):
        assert figures in text
    sales_row = next(line for line in text.splitlines() if "Sales " in line and "·" in line)
    assert sales_row.index("80% · 4 · 15") < sales_row.index("41% · 2.9 · 23")
    # Team figures.
    assert "IT Service Desk" in text
    assert "88%" in text and "52%" in text
    assert "L1: 5, L2: 2" in text
    assert "Access (4), Hardware (3)" in text
    # Recognition is on in this report.
    assert "Recognition" in text
    assert "Alice Example" in text
    assert "Fixed my laptop <fast>!" in text


def test_text_names_nobody_when_recognition_is_off() -> None:
    text = rendered_text(sample_insight(recognition=None, five_stars=None))
    assert "Recognition" not in text
    assert "Alice" not in text
    assert "Fixed my laptop" not in text


def test_text_shows_user_text_literally() -> None:
    odd = team("ops", "[bold]Ops[/bold] $5")
    text = rendered_text(sample_insight(teams=[odd], recognition=None, five_stars=None))
    assert "[bold]Ops[/bold] $5" in text


def test_text_for_an_empty_period() -> None:
    text = rendered_text(empty_insight())
    assert "No requests in this period." in text
    assert "No requests between departments and teams yet." in text


# --- HTML -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> str:
    """The sample report as HTML (rendered once: each page draws three charts)."""
    return as_html(sample_insight())


def test_html_has_the_three_sections_and_embedded_charts(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    for heading in ("Teams", "Where service breaks down", "Recognition"):
        assert f"<h2>{heading}</h2>" in page
    assert page.index("<h2>Teams</h2>") < page.index("<h2>Where service breaks down</h2>")
    images = embedded_pngs(page)
    assert len(images) == 3
    sizes = [png_size(image) for image in images]
    assert sizes[0] == (800, 400)  # attainment per week
    assert sizes[1] == (800, 400)  # first response
    assert sizes[2][0] == 800 and sizes[2][1] >= 250  # satisfaction, one bar per team
    assert "Sales → Finance: 41% within standard, CSAT 2.9, 23 requests" in page
    assert "Alice Example" in page


def test_html_colours_matrix_cells_by_attainment(page: str) -> None:
    matrix = page[page.index('<table class="matrix">') :]
    matrix = matrix[: matrix.index("</table>")]
    assert matrix.count('class="cell') == 4
    worst = re.search(r'<td class="cell worst" style="background:(#[0-9a-f]{6})">41%', matrix)
    good = re.search(r'<td class="cell" style="background:(#[0-9a-f]{6})">92%', matrix)
    assert worst and good
    assert worst.group(1) != good.group(1)


def test_html_is_self_contained(page: str) -> None:
    assert not re.search(r"https?://", page)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert "url(" not in page
    for source in re.findall(r'src="([^"]*)"', page):
        assert source.startswith("data:image/png;base64,")


def test_html_escapes_user_text() -> None:
    hostile = team("evil", "<script>alert(1)</script>")
    cell = PairCell("<b>Sales</b>", "evil", "<script>alert(1)</script>", 3, 0.3, 1.0)
    page = as_html(
        sample_insight(
            teams=[hostile],
            matrix=[cell],
            worst=[cell],
            five_stars=[FiveStar("EV-1", "evil", "<i>Eve</i>", "<img src=x onerror=alert(2)>")],
        )
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Sales&lt;/b&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;i&gt;Eve&lt;/i&gt;" in page


def test_html_has_no_recognition_when_it_is_off() -> None:
    page = as_html(sample_insight(recognition=None, five_stars=None))
    assert "Recognition" not in page
    assert "Alice" not in page
    assert "Fixed my laptop" not in page
    assert "<h2>Where service breaks down</h2>" in page


def test_html_for_an_empty_period_still_has_charts() -> None:
    page = as_html(empty_insight())
    assert "<h2>Teams</h2>" in page and "<h2>Where service breaks down</h2>" in page
    assert "<h2>Recognition</h2>" not in page
    assert all(png_size(image)[0] == 800 for image in embedded_pngs(page))


# --- charts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [charts.attainment_by_week, charts.first_response_distribution, charts.csat_by_team, as_png],
)
def test_report_charts_render_with_and_without_data(draw: object) -> None:
    for insight in (sample_insight(), empty_insight()):
        width, height = png_size(draw(insight))  # type: ignore[operator]
        assert width == 800 and height >= 250


def test_charts_cope_with_teams_that_have_no_figures_yet() -> None:
    quiet = team(
        "hr",
        "HR",
        filed=0,
        csat_average=None,
        csat_distribution={},
        first_response_buckets={},
    )
    insight = sample_insight(teams=[quiet], weekly=[WeekPoint("hr", date(2026, 11, 2), 0, None)])
    for draw in (charts.attainment_by_week, charts.first_response_distribution):
        assert png_size(draw(insight)) == (800, 400)
    assert png_size(charts.csat_by_team(insight))[0] == 800
    assert png_size(charts.team_card_chart(quiet, insight.weekly)) == (600, 260)


def test_team_card_chart_is_compact() -> None:
    insight = sample_insight()
    assert png_size(charts.team_card_chart(insight.teams[0], insight.weekly)) == (600, 260)
    assert png_size(charts.team_card_chart(insight.teams[1], [])) == (600, 260)


def test_charts_take_names_literally_and_many_teams() -> None:
    odd = [team(f"t{i}", f"$Team_{i}$ _x") for i in range(12)]
    weekly = [WeekPoint(f"t{i}", date(2026, 11, 2), 5, 0.5 + i / 30) for i in range(12)]
    insight = sample_insight(teams=odd, weekly=weekly)
    assert png_size(charts.attainment_by_week(insight)) == (800, 400)
    assert png_size(charts.csat_by_team(insight))[0] == 800
    assert png_size(charts.team_card_chart(odd[0], weekly))[0] == 600


def test_charts_are_deterministic() -> None:
    insight = sample_insight()
    assert charts.attainment_by_week(insight) == charts.attainment_by_week(insight)
    card = charts.team_card_chart(insight.teams[0], insight.weekly)
    assert card == charts.team_card_chart(insight.teams[0], insight.weekly)
