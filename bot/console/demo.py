"""`inhouse demo`: a readable end-to-end story on the example catalog.

Story time runs on a manual clock, so the service standard's business hours,
the paused clock while waiting and the overnight gap show as they would in a
real week, and the demo still finishes in seconds.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.channel import ConsoleChannel
from bot.console.shell import ConsoleDesk
from bot.reports.views import as_text
from handlers.catalog_apply import apply_catalog
from handlers.delivery import dispatch_due
from handlers.insight import insight
from handlers.people import Identity
from models.catalog import Catalog
from models.clock import ManualClock
from models.i18n import _, format_when, reader

# Monday 23 November 2026, 08:40 in Berlin: just before the office opens.
STORY_START = datetime(2026, 11, 23, 7, 40, tzinfo=UTC)
STORY_TIMEZONE = "Europe/Berlin"


@dataclass(frozen=True)
class Step:
    after: timedelta  # story time that passes before this step
    who: str  # email
    line: str


# Requester, IT agent, Finance agent, a second requester: all in the example catalog.
LUCA = "luca@example.com"  # Sales
ALICE = "alice@example.com"  # IT
FIONA = "fiona@example.com"  # Finance
MARIA = "maria@example.com"  # Marketing

STORY = [
    Step(timedelta(0), LUCA, "/request it My laptop won't boot"),
    Step(timedelta(minutes=5), MARIA, "/request finance Expense report stuck in approval"),
    Step(timedelta(minutes=25), ALICE, "/request queue"),
    Step(timedelta(minutes=2), ALICE, "claim IT-1"),
    Step(timedelta(minutes=3), ALICE, "reply IT-1 Does the power light come on at all?"),
    Step(timedelta(minutes=10), LUCA, "reply IT-1 No, nothing happens, not even the fan."),
    Step(timedelta(minutes=5), ALICE, "note IT-1 Probably the board; we have spares."),
    Step(timedelta(minutes=5), ALICE, "wait IT-1 Can you bring it to room 2.14 tomorrow?"),
    Step(timedelta(hours=2), FIONA, "claim FIN-1"),
    Step(timedelta(minutes=30), FIONA, "resolve FIN-1 Approved it by hand."),
    Step(timedelta(hours=20), LUCA, "reply IT-1 Dropped it off at 9:00."),
    Step(timedelta(hours=2), ALICE, "resolve IT-1 Replaced the mainboard; your files are intact."),
    Step(timedelta(minutes=15), LUCA, "rate IT-1 5 Super fast, thank you!"),
    Step(timedelta(minutes=30), MARIA, "rate FIN-1 2"),
    Step(
        timedelta(minutes=1),
        MARIA,
        "comment FIN-1 It is approved, but the payout is still missing.",
    ),
    Step(timedelta(minutes=1), MARIA, "reopen FIN-1 The payout never arrived."),
    Step(timedelta(minutes=1), LUCA, "/request status IT-1"),
    Step(timedelta(minutes=1), LUCA, "/request it"),
]


async def play(
    sessions: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    *,
    write: Callable[[Any], None],
    language: str = "en",
    database: Path | None = None,
) -> None:
    clock = ManualClock(STORY_START)
    async with sessions.begin() as session:
        await apply_catalog(session, catalog)
    desk = ConsoleDesk(sessions, clock, STORY_TIMEZONE, language)
    channel = ConsoleChannel(
        write=write, default_timezone=STORY_TIMEZONE, language=language, clock=clock
    )
    with reader(language, STORY_TIMEZONE):
        write(_("Inhouse demo: the example catalog, a fresh database, story time in Berlin."))
        write(_("Lines starting with → are notices the desk delivered; ✎ edits a team card."))
    for step in STORY:
        clock.advance(step.after)
        with reader(language, STORY_TIMEZONE):
            write("")
            write(f"[{format_when(clock.now(), clock.now())}] {step.who} ▸ {step.line}")
        answer = await desk.run(Identity(email=step.who), step.line)
        write("  " + answer.replace("\n", "\n  "))
        # One screen: the story's notices print in the order they were queued.
        await dispatch_due(sessions, clock, [channel], owner="demo", concurrency=1)
    async with sessions() as session:
        figures = await insight(
            session,
            since=STORY_START - timedelta(days=1),
            until=clock.now() + timedelta(1),
            now=clock.now(),
        )
    write("")
    with reader(language, STORY_TIMEZONE):
        write(as_text(figures))
        if database is not None:
            write("")
            for line in next_steps(database, STORY_START, clock.now()):
                write(line)


def next_steps(database: Path, start: datetime, end: datetime) -> list[str]:
    """Where the story is kept, and the exact commands that open it again.

    The report names the story's days: story time is a fixed week, which the
    report's default (the last 30 days) leaves behind sooner or later.
    """
    setting = "DATABASE_URL=" + shlex.quote(f"sqlite+aiosqlite:///{database.resolve()}")
    since = (start - timedelta(days=1)).date().isoformat()
    until = (end + timedelta(days=2)).date().isoformat()
    return [
        _("The demo's desk is kept in {path}. To look around in it:", path=str(database.resolve())),
        "  " + _("See its report:"),
        f"    {setting} inhouse report --since {since} --until {until}",
        "  " + _("Chat in it as Luca (who asked IT) or as Alice (of the IT Service Desk):"),
        f"    {setting} inhouse chat --as {LUCA}",
        f"    {setting} inhouse chat --as {ALICE}",
    ]
