"""The team summary as a terminal table or CSV."""

from __future__ import annotations

import csv
from typing import TextIO

from rich.table import Table
from rich.text import Text

from handlers.report import TeamSummary
from models.i18n import _, format_duration, format_number, format_share, ngettext


def summary_table(rows: list[TeamSummary]) -> Table:
    table = Table(
        _("Team"),
        _("Filed"),
        _("Resolved"),
        _("Backlog"),
        _("Median 1st response"),
        _("1st response in standard"),
        _("Resolved in standard"),
        _("CSAT"),
        _("Reopened"),
        title=_("How each team kept its promises"),
    )
    for row in rows:
        table.add_row(
            Text(row.team_name),
            str(row.filed),
            str(row.resolved),
            str(row.backlog),
            format_duration(row.median_first_response) if row.median_first_response else "–",
            format_share(row.first_response_met) if row.first_response_met is not None else "–",
            format_share(row.resolution_met) if row.resolution_met is not None else "–",
            ngettext(
                "{score} ({n} rating)",
                "{score} ({n} ratings)",
                row.ratings,
                score=format_number(round(row.csat, 1)),
            )
            if row.csat is not None
            else "–",
            str(row.reopened),
        )
    return table


def print_csv(rows: list[TeamSummary], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(
        [
            "team",
            "filed",
            "resolved",
            "backlog",
            "median_first_response_seconds",
            "first_response_met",
            "resolution_met",
            "csat",
            "ratings",
            "reopened",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.team_key,
                row.filed,
                row.resolved,
                row.backlog,
                int(row.median_first_response.total_seconds())
                if row.median_first_response is not None
                else "",
                _csv_share(row.first_response_met),
                _csv_share(row.resolution_met),
                f"{row.csat:.2f}" if row.csat is not None else "",
                row.ratings,
                row.reopened,
            ]
        )


def _csv_share(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else ""
