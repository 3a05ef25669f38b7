"""What `serve` loads at start (issue 14: start-up < 2 s, idle RSS < 150 MB; the
figures are bench.startup's): these keep the two shortcuts from quietly going."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from app import MIGRATIONS, SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[2]


def test_schema_head_is_the_migrations_head() -> None:
    # app.SCHEMA_HEAD lets a start on a current schema skip alembic altogether.
    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    assert heads == [SCHEMA_HEAD], (
        f"the migrations' head is {heads}: set app.SCHEMA_HEAD to it (a stale value "
        "makes every start read the migration scripts, a slower start)"
    )


def test_the_serving_modules_load_no_chart_migration_terminal_or_holiday_code() -> None:
    # matplotlib is ~55 MB of an idle `serve`: only a chart being drawn loads it;
    # alembic only a schema that is behind, rich a command that prints, holidays a
    # calendar's first holiday lookup.
    probe = (
        "import sys, app, bot.slack.app, bot.slack.channel, bot.teams.app, bot.teams.bot, "
        "bot.teams.channel, bot.metrics, scheduler.jobs\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'matplotlib', 'alembic', 'rich', 'holidays'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
