"""The insight report for people and spreadsheets: terminal, CSV, HTML, PNG.

- `as_text(insight)`: rich renderables for the terminal (print with a rich Console).
- `as_csv(insight, out)`: one row per team with every figure (see the function).
- `matrix_csv(insight, out)`: the department-pair matrix, one row per cell. A separate
  file rather than a second section, so each stays a plain table a spreadsheet opens.
- `as_html(insight)`: a self-contained HTML page (bot.reports.html).
- `as_png(insight)`: one overview picture with the three report charts.

CSV column names and values are machine-readable on purpose (like `inhouse report
--format csv`): stable English identifiers, shares as 0..1, durations in seconds,
decimal points, whatever the reader's language. Everything else is translated.
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from typing import TextIO

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.reports import charts
from bot.reports.html import as_html
from bot.reports.shared import (
    DASH,
    attainment_colour,
    bucket_order,
    department_label,
    matrix_grid,
    period_label,
    ratings_count,
    recognition_headers,
    recognition_rows,
    score,
    share,
    standards_headers,
    standards_row,
    volume_headers,
    volume_row,
)
from handlers.insight import Insight, PairCell, worst_cell_sentence
from models.i18n import _, format_number

__all__ = ["as_csv", "as_html", "as_png", "as_text", "matrix_csv"]

_BUCKET_COLUMNS = {
    "<1h": "under_1h",
    "1-4h": "1_4h",
    "4-8h": "4_8h",
    "1-2d": "1_2d",
    ">2d": "over_2d",
}


# --- terminal -------------------------------------------------------------------------


def as_text(insight: Insight) -> RenderableType:
    """Tables for the terminal. User text (names, comments) is never read as markup."""
    parts: list[RenderableType] = [
        Text(
            _("Service report, {period}", period=period_label(insight.since, insight.until)),
            style="bold",
        ),
    ]
    parts.append(Rule(_("Teams")))
    if insight.teams:
        parts += [_volume_table(insight), _standards_table(insight)]
    else:
        parts.append(Text(_("No requests in this period.")))
    parts.append(Rule(_("Where service breaks down")))
    if insight.matrix:
        parts.append(_matrix_table(insight))
    else:
        parts.append(Text(_("No requests between departments and teams yet.")))
    for cell in insight.worst:
        parts.append(Text("• ") + Text(worst_cell_sentence(cell)))
    if insight.recognition is not None or insight.five_stars is not None:
        parts += _recognition(insight)
    return Group(*parts)


def _volume_table(insight: Insight) -> Table:
    table = Table(
        *volume_headers(),
        caption=_("Business time: median (90th percentile)."),
    )
    for team in insight.teams:
        name, *figures = volume_row(team)
        table.add_row(Text(name), *figures)
    return table


def _standards_table(insight: Insight) -> Table:
    table = Table(*standards_headers(), title=_("Standards and satisfaction"))
    for team in insight.teams:
        name, *figures, categories = standards_row(team)
        table.add_row(Text(name), *figures, Text(categories))
    return table


def _matrix_table(insight: Insight) -> Table:
    departments, teams, cells = matrix_grid(insight)
    worst = {(cell.department, cell.team_key) for cell in insight.worst}
    table = Table(
        _("Requesting department"),
        title=_("Department → team"),
        caption=_("Within standard · CSAT · requests"),
    )
    for _key, name in teams:
        table.add_column(Text(name), justify="center")
    for department in departments:
        row: list[RenderableType] = [Text(department_label(department))]
        for key, _name in teams:
            cell = cells.get((department, key))
            bold = " bold" if (department, key) in worst else ""
            row.append(
                Text(_cell_text(cell), style=f"black on {attainment_colour(cell.met)}{bold}")
                if cell is not None
                else Text(DASH, style="dim")
            )
        table.add_row(*row)
    return table


def _cell_text(cell: PairCell) -> str:
    return f"{share(cell.met)} · {score(cell.csat)} · {format_number(cell.volume)}"


def _recognition(insight: Insight) -> list[RenderableType]:
    parts: list[RenderableType] = [Rule(_("Recognition"))]
    if insight.recognition:
        table = Table(*recognition_headers())
        for row in recognition_rows(insight):
            person, team, *figures = row
            table.add_row(Text(person), Text(team), *figures)
        parts.append(table)
    elif insight.recognition is not None:
        parts.append(Text(_("Nobody to celebrate yet in this period.")))
    for star in insight.five_stars or []:
        who = f" — {star.person}" if star.person else ""
        parts.append(Text(f"★★★★★ {star.key}{who}: ") + Text(f"“{star.comment}”", style="italic"))
    return parts


# --- spreadsheets ---------------------------------------------------------------------


def as_csv(insight: Insight, out: TextIO) -> None:
    """One row per team with every figure.

    Columns: team, team_name, filed, resolved, backlog, backlog_oldest_age_seconds,
    first_response_median_seconds, first_response_p90_seconds, resolution_median_seconds,
    resolution_p90_seconds, first_response_met, resolution_met, breaches_total,
    breaches_level_N (one per escalation level seen), reopen_rate, csat_average,
    csat_ratings, csat_response_rate, csat_N (count of rating N, 1..max(5, highest)),
    top_breached_categories ("Access:4;Hardware:3"), first_response_<bucket>
    (under_1h, 1_4h, 4_8h, 1_2d, over_2d). Empty cell = no figure.
    """
    levels = sorted({level for team in insight.teams for level in team.breaches_by_level})
    top = max([5, *(rating for team in insight.teams for rating in team.csat_distribution)])
    buckets = bucket_order(insight.teams)
    writer = csv.writer(out)
    writer.writerow(
        [
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
            *(f"breaches_level_{level}" for level in levels),
            "reopen_rate",
            "csat_average",
            "csat_ratings",
            "csat_response_rate",
            *(f"csat_{rating}" for rating in range(1, top + 1)),
            "top_breached_categories",
            *(f"first_response_{_bucket_column(key)}" for key in buckets),
        ]
    )
    for team in insight.teams:
        writer.writerow(
            [
                team.team_key,
                team.team_name,
                team.filed,
                team.resolved,
                team.backlog,
                _seconds(team.backlog_oldest_age),
                _seconds(team.first_response_median),
                _seconds(team.first_response_p90),
                _seconds(team.resolution_median),
                _seconds(team.resolution_p90),
                _ratio(team.first_response_met),
                _ratio(team.resolution_met),
                sum(team.breaches_by_level.values()),
                *(team.breaches_by_level.get(level, 0) for level in levels),
                _ratio(team.reopen_rate),
                _average(team.csat_average),
                ratings_count(team),
                _ratio(team.csat_response_rate),
                *(team.csat_distribution.get(rating, 0) for rating in range(1, top + 1)),
                ";".join(f"{name}:{count}" for name, count in team.top_breached_categories),
                *(team.first_response_buckets.get(key, 0) for key in buckets),
            ]
        )


def matrix_csv(insight: Insight, out: TextIO) -> None:
    """The department-pair matrix, one row per cell.

    Columns: department, team, team_name, volume, met (0..1), csat, worst (1 when the
    report calls the cell out as a breakdown point, else 0).
    """
    worst = {(cell.department, cell.team_key) for cell in insight.worst}
    writer = csv.writer(out)
    writer.writerow(["department", "team", "team_name", "volume", "met", "csat", "worst"])
    for cell in insight.matrix:
        writer.writerow(
            [
                cell.department,
                cell.team_key,
                cell.team_name,
                cell.volume,
                _ratio(cell.met),
                _average(cell.csat),
                int((cell.department, cell.team_key) in worst),
            ]
        )


def as_png(insight: Insight) -> bytes:
    """One overview picture: attainment per week, first response, satisfaction."""
    return charts.overview(insight)


def _bucket_column(key: str) -> str:
    return _BUCKET_COLUMNS.get(key) or re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")


def _seconds(value: timedelta | None) -> str | int:
    return int(value.total_seconds()) if value is not None else ""


def _ratio(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else ""


def _average(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else ""
