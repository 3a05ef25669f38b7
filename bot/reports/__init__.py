"""Insight reports rendered for people: charts (PNG), terminal tables, CSV, HTML.

The figures come from `handlers.insight`; this package only draws and formats them,
for the current reader's language (models.i18n). Public entry points:

- charts: `attainment_by_week`, `first_response_distribution`, `csat_by_team`,
  `overview` (all three in one), `team_card_chart` (one team, for the `stats` card).
- views: `as_text`, `as_csv`, `matrix_csv`, `as_html`, `as_png`.

Import the submodules (`bot.reports.charts`, `bot.reports.views`): matplotlib is
only loaded by code that draws.
"""
