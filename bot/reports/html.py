"""The insight report as one self-contained HTML page a manager can open offline.

Inline CSS, charts embedded as `data:image/png;base64,` URIs, no scripts, no fonts
or images fetched from anywhere. Every piece of user text (team, department and
people's names, comments, categories) goes through `escape` below: the report's
one escaping path.
"""

from __future__ import annotations

import base64
import html

from bot.reports import charts
from bot.reports.shared import (
    DASH,
    attainment_colour,
    department_label,
    matrix_grid,
    period_label,
    recognition_headers,
    recognition_rows,
    score,
    share,
    standards_headers,
    standards_row,
    volume_headers,
    volume_row,
)
from handlers.insight import Insight, worst_cell_sentence
from models.i18n import _, current_locale, format_number
from models.visible_text import neutralise

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; background: #f6f7f9; color: #1d2125; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 32px 0 12px; border-bottom: 2px solid #d0d4d9; }
.period { color: #5e6c84; margin: 0 0 16px; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; font-size: 0.9em; }
th, td { border: 1px solid #d0d4d9; padding: 6px 10px; text-align: right; vertical-align: top; }
th:first-child, td:first-child, th.text, td.text { text-align: left; }
td { white-space: nowrap; }
td.text { white-space: normal; }
th { background: #eef0f3; }
caption { caption-side: bottom; color: #5e6c84; font-size: 0.85em; padding-top: 4px;
          text-align: left; }
.matrix td.cell { text-align: center; min-width: 90px; }
.matrix td.cell small { display: block; color: #333; }
.matrix td.worst { outline: 3px solid #b42318; outline-offset: -3px; font-weight: bold; }
.matrix td.empty { background: #fafafa; color: #999; text-align: center; }
figure { margin: 0 0 16px; background: #fff; border: 1px solid #d0d4d9; padding: 8px;
         max-width: 800px; }
figure img { max-width: 100%; height: auto; display: block; }
ul.worst li { margin: 4px 0; }
blockquote { background: #fff; border-left: 4px solid #f5b800; margin: 8px 0;
             padding: 8px 12px; }
blockquote footer { color: #5e6c84; font-size: 0.85em; margin-top: 4px; }
.scale span { display: inline-block; padding: 2px 8px; margin-right: 4px; }
"""


def escape(text: str) -> str:
    """HTML-escaped, without direction overrides or invisible characters."""
    return html.escape(neutralise(text))


def as_html(insight: Insight) -> str:
    """The whole report as one HTML document (a str; write it with UTF-8)."""
    title = _("Service report, {period}", period=period_label(insight.since, insight.until))
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="period">{escape(_("Figures in business time, per serving team."))}</p>',
        *_teams_section(insight),
        *_breakdown_section(insight),
    ]
    if insight.recognition is not None or insight.five_stars is not None:
        body += _recognition_section(insight)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{escape(current_locale().replace("_", "-"))}">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{_STYLE}</style></head>",
            "<body><main>",
            *body,
            "</main></body></html>",
            "",
        ]
    )


def _teams_section(insight: Insight) -> list[str]:
    out = [f"<section><h2>{escape(_('Teams'))}</h2>"]
    if insight.teams:
        out.append(
            _table(
                volume_headers(),
                [volume_row(team) for team in insight.teams],
                caption=_("Business time: median (90th percentile)."),
            )
        )
        out.append(
            _table(
                standards_headers(),
                [standards_row(team) for team in insight.teams],
                text_columns=frozenset({0, 7}),
            )
        )
    else:
        out.append(f"<p>{escape(_('No requests in this period.'))}</p>")
    out.append('<div class="charts">')
    out.append(_figure(charts.attainment_by_week(insight), _("Standard attainment per week")))
    out.append(_figure(charts.first_response_distribution(insight), _("Time to first response")))
    out.append(_figure(charts.csat_by_team(insight), _("Satisfaction by team")))
    out.append("</div></section>")
    return out


def _breakdown_section(insight: Insight) -> list[str]:
    out = [f"<section><h2>{escape(_('Where service breaks down'))}</h2>"]
    if insight.worst:
        out.append('<ul class="worst">')
        out += [f"<li>{escape(worst_cell_sentence(cell))}</li>" for cell in insight.worst]
        out.append("</ul>")
    if not insight.matrix:
        out.append(f"<p>{escape(_('No requests between departments and teams yet.'))}</p>")
        out.append("</section>")
        return out
    departments, teams, cells = matrix_grid(insight)
    worst = {(cell.department, cell.team_key) for cell in insight.worst}
    out.append('<table class="matrix">')
    out.append(f"<caption>{escape(_('Within standard · CSAT · requests'))}</caption>")
    head = "".join(f"<th>{escape(name)}</th>" for _key, name in teams)
    out.append(f"<tr><th>{escape(_('Requesting department'))}</th>{head}</tr>")
    for department in departments:
        row = [f"<th>{escape(department_label(department))}</th>"]
        for key, _name in teams:
            cell = cells.get((department, key))
            if cell is None:
                row.append(f'<td class="empty">{DASH}</td>')
                continue
            classes = "cell worst" if (department, key) in worst else "cell"
            detail = _(
                "CSAT {score} · {volume}", score=score(cell.csat), volume=format_number(cell.volume)
            )
            row.append(
                f'<td class="{classes}" style="background:{attainment_colour(cell.met)}">'
                f"{escape(share(cell.met))}<small>{escape(detail)}</small></td>"
            )
        out.append(f"<tr>{''.join(row)}</tr>")
    out.append("</table>")
    scale = "".join(
        f'<span style="background:{attainment_colour(level)}">{escape(share(level))}</span>'
        for level in (0.5, 0.75, 0.9, 1.0)
    )
    out.append(f'<p class="scale">{escape(_("Within standard:"))} {scale}</p></section>')
    return out


def _recognition_section(insight: Insight) -> list[str]:
    out = [f"<section><h2>{escape(_('Recognition'))}</h2>"]
    if insight.recognition:
        out.append(
            _table(
                recognition_headers(),
                recognition_rows(insight),
                text_columns=frozenset({0, 1}),
            )
        )
    elif insight.recognition is not None:
        out.append(f"<p>{escape(_('Nobody to celebrate yet in this period.'))}</p>")
    for star in insight.five_stars or []:
        credit = f"{star.key} — {star.person}" if star.person else star.key
        out.append(
            f"<blockquote><div>★★★★★ {escape(star.comment)}</div>"
            f"<footer>{escape(credit)}</footer></blockquote>"
        )
    out.append("</section>")
    return out


def _table(
    headers: list[str],
    rows: list[list[str]],
    *,
    caption: str | None = None,
    text_columns: frozenset[int] = frozenset({0}),
) -> str:
    """A table of escaped strings; `text_columns` are left-aligned, the rest are figures."""
    head = "".join(
        f'<th class="text">{escape(header)}</th>'
        if i in text_columns
        else f"<th>{escape(header)}</th>"
        for i, header in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{escape(value)}</td>'
            if i in text_columns
            else f"<td>{escape(value)}</td>"
            for i, value in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    note = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{note}<tr>{head}</tr>{body}</table>"


def _figure(png: bytes, label: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(label)}" src="data:image/png;base64,{data}"></figure>'
