"""Report charts as PNG bytes (matplotlib, Agg, no display, no global pyplot state).

Each figure is a plain `Figure` drawn on its own `FigureCanvasAgg`, so charts can be
rendered from any thread or worker without a display and without touching pyplot's
global figure list. The PNG carries no timestamp or software tag: the same figures
in the same locale give the same bytes on one machine.

Every label is translated (`_()`), numbers and shares are formatted for the reader
(`format_number` / `format_share`); an empty chart says "No data yet".
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.reports import plots
from handlers.insight import Insight, TeamFigures, WeekPoint
from models.i18n import _

DPI = 100


def attainment_by_week(insight: Insight) -> bytes:
    """Share of requests within standard per week, one line per team (800×400 px)."""
    return _render((8, 4), [1], [lambda ax: plots.draw_attainment(ax, insight)])


def first_response_distribution(insight: Insight) -> bytes:
    """Requests per time-to-first-response bucket, bars grouped by team (800×400 px)."""
    return _render((8, 4), [1], [lambda ax: plots.draw_first_response(ax, insight)])


def csat_by_team(insight: Insight) -> bytes:
    """Each team's ratings as a 100 % stacked bar, average and count beside it."""
    return _render((8, _csat_height(insight)), [1], [lambda ax: plots.draw_csat(ax, insight)])


def overview(insight: Insight) -> bytes:
    """The three report charts stacked in one picture (the `--format png` report)."""
    csat = _csat_height(insight)
    return _render(
        (8, 8 + csat),
        [4, 4, csat],
        [
            lambda ax: plots.draw_attainment(ax, insight),
            lambda ax: plots.draw_first_response(ax, insight),
            lambda ax: plots.draw_csat(ax, insight),
        ],
    )


def team_card_chart(figures: TeamFigures, weekly: list[WeekPoint]) -> bytes:
    """One team at a glance for the `stats` card (600×260 px): weeks and first response."""
    figure = _figure((6, 2.6))
    left, right = figure.subplots(1, 2, width_ratios=[3, 2])
    figure.suptitle(plots.safe(figures.team_name), fontsize=11, fontweight="bold")
    points = sorted(
        (p for p in weekly if p.team_key == figures.team_key), key=lambda p: p.week_start
    )[-12:]
    if points:
        plots.draw_team_weeks(left, points)
    else:
        plots.no_data(left, _("Per week"), small=True)
    plots.draw_team_buckets(right, figures)
    return _png(figure)


def _render(
    size: tuple[float, float], heights: list[float], draws: list[Callable[[Axes], None]]
) -> bytes:
    figure = _figure(size)
    axes = figure.subplots(len(draws), 1, height_ratios=heights, squeeze=False)
    for ax, draw in zip(axes[:, 0], draws, strict=True):
        draw(ax)
    return _png(figure)


def _csat_height(insight: Insight) -> float:
    """Inches: room for every team's bar, within reason."""
    return min(16.0, max(3.0, 1.6 + 0.45 * len(insight.teams)))


def _figure(size: tuple[float, float]) -> Figure:
    figure = Figure(figsize=size, dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)  # the Agg raster backend, explicitly: no display needed
    return figure


def _png(figure: Figure) -> bytes:
    out = BytesIO()
    # No "Software" tag (and PNG gets no creation time): stable bytes for tests.
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
