"""The console as a delivery channel: notices printed as text to a terminal."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.console import render
from handlers.delivery import PendingNotice, Recipient
from models.clock import Clock, SystemClock
from models.i18n import _, reader
from models.stored_calendar import calendar_from_spec


@dataclass
class ConsoleChannel:
    """Prints each notice for its reader.

    With a `viewer`, it reaches only that person and the teams they are on, so
    several people chatting in several terminals each see their own notices;
    without one (the demo, `serve` without platforms) it reaches everyone.
    """

    write: Callable[[str], None]
    viewer_id: int | None = None
    viewer_team_ids: frozenset[int] = frozenset()
    name: str = "console"
    default_timezone: str = "UTC"
    # The terminal's language (--lang or LANG), whoever the notice is for.
    language: str | None = None
    # What "now" is for the reader (due times within the week are said by weekday).
    clock: Clock = field(default_factory=SystemClock)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def reaches(self, recipient: Recipient) -> bool:
        if recipient.destination is not None:
            # A place on a platform (the organisation-wide digest's channel, the
            # conversation a Slack or Teams answer goes back to), not a terminal.
            return False
        if self.viewer_id is None:
            return True
        if recipient.person is not None:
            return recipient.person.id == self.viewer_id
        return recipient.team is not None and recipient.team.id in self.viewer_team_ids

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        person, team = notice.recipient.person, notice.recipient.team
        now = self.clock.now()
        if team is not None:
            timezone = calendar_from_spec(team.calendar.spec).timezone.key
            with reader(self.language or team.language, timezone):
                header = _("#{team}", team=team.key)
                text = render.notice(notice.kind, notice.payload, now)
        else:
            assert person is not None
            with reader(self.language or person.language, person.timezone or self.default_timezone):
                header = _("to {name}", name=person.display_name)
                text = render.notice(notice.kind, notice.payload, now)
        edited = notice.kind == "team_card" and "team_card" in notice.refs
        marker = "✎" if edited else "→"
        body = text.replace("\n", "\n      ")  # keep a notice's lines together
        self.write(f"  {marker} [{header}] {body}")
        return {"line": next(self._numbers)}
