"""A fortnight of service at the test desk, played through the real use cases.

The desk (tests/integration/conftest.py): IT works Mon-Fri 09:00-17:00 Berlin
(urgent 30m / 4h, normal 4h / 3d = 24h, low 1d = 8h / 10d; ladder: rung 1 at the
lapse, rung 2 two business hours later); Finance works 24x7 (normal 1h / 8h, no
ladder). Requesters: Sam (Sales), Fay (Finance), Carol (Operations) and a
newcomer with no department. All times below are Berlin (CET, UTC+1).

The period is [Mon 16 Nov 00:00 UTC, Mon 30 Nov 00:00 UTC); "now" is Mon 30 Nov
10:00 Berlin. Business seconds: FR = to first response, RES = resolution clock.

IT-1  Fri 13 Nov 10:00  Sam  Hardware normal  before the period; never touched (backlog)
IT-2  Mon 16 10:00      Sam  Hardware normal  Alice claims 10:30 (FR 1800), resolves
                        14:00 (RES 14400, met); Sam rates 5 "Alice saved my demo!"
IT-3  Fri 20 16:30      Fay  Software normal  late on a Friday: Bob replies Mon 23 09:30
                        (FR 3600: 30m Fri + 30m Mon), waits on Fay Mon 10:00 (clock
                        paused at 5400), Fay answers Wed 25 09:00, Bob resolves 11:00
                        (RES 5400 + 7200 = 12600, met); never rated
IT-4  Mon 23 10:00      Sam  Hardware urgent  swept 12:30: FR rungs 1 and 2; Alice claims
                        13:00 (FR 10800, late); swept 14:00: RES rung 1; resolves 15:00
                        (18000); Sam rates 2, reopens Tue 09:00; Alice resolves 10:30
                        (RES 23400 > 14400, breached); Sam rates 4
IT-5  Tue 24 09:00      Carol Access normal   Alice claims 09:10 (FR 600), resolves 09:40
                        (RES 2400, met); Carol rates 3
IT-6  Wed 25 15:00      Sam  Access low       Bob replies Thu 26 16:00 (FR 32400 > 8h, late),
                        resolves 16:30; Sam reopens Fri 27 09:00 without rating (active)
IT-7  Fri 27 16:00      Fay  Hardware normal  untouched; FR due Mon 30 12:00, not yet lapsed
IT-8  Fri 27 16:30      Sam  Hardware urgent  untouched; FR lapsed Fri 17:00; final sweep:
                        rung 1 (rung 2 only at Mon 11:00)
IT-9  Mon 30 09:30      Carol Software normal after the period (backlog)
FIN-1 Tue 24 10:00      Sam   Fay claims 10:20 (FR 1200), resolves 12:00 (RES 7200, met);
                        Sam rates 5 "Quick refund, thanks Fay"
FIN-2 Wed 25 10:00      Sam   Fay replies 12:00 (FR 7200, late), resolves Thu 26 10:00
                        (RES 86400, breached); Sam rates 1 "Took a whole day"
FIN-3 Thu 26 09:00      Carol Fay claims 09:30 (FR 1800), resolves 13:00 (RES 14400, met);
                        Carol rates 5 without a comment
FIN-4 Thu 26 14:00      Sam   Fay claims 14:10 (FR 600), resolves Fri 27 12:00
                        (RES 79200, breached); never rated
FIN-5 Fri 27 10:00      newcomer (no department)  untouched, FR lapsed 11:00 (backlog)

The final sweep (Mon 30 10:00) also sends IT-3 its survey reminder, a "survey"
clock level 1 that must not count as a breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers import survey, work
from handlers.filing import file_request
from handlers.sweep import sweep_due
from tests.integration.conftest import Desk

SAM, FAY, CAROL = "sam@example.com", "fay@example.com", "carol@example.com"
ALICE, BOB = "alice@example.com", "bob@example.com"
NEWCOMER = "newcomer@example.com"


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 wall-clock time in Berlin (CET, UTC+1), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


NOW = berlin(30, 10)


@dataclass(frozen=True)
class Period:
    since: datetime = datetime(2026, 11, 16, tzinfo=UTC)
    until: datetime = datetime(2026, 11, 30, tzinfo=UTC)
    now: datetime = NOW


async def _file(
    desk: Desk, when: datetime, email: str, team: str, category: str | None, priority: str
) -> str:
    desk.clock.set(when)
    person = await desk.person(email)
    async with desk.sessions.begin() as session:
        filed = await file_request(
            session,
            desk.clock,
            person,
            team=team,
            title=f"{category or 'Money'} trouble",
            category=category,
            priority=priority,
        )
        return filed.request.key


async def _do(desk: Desk, when: datetime, email: str, action: Any, *args: Any) -> None:
    desk.clock.set(when)
    person = await desk.person(email)
    async with desk.sessions.begin() as session:
        await action(session, desk.clock, person, *args)


async def _sweep(desk: Desk, when: datetime) -> None:
    desk.clock.set(when)
    await sweep_due(desk.sessions, desk.clock)


async def seed(desk: Desk) -> Period:
    it1 = await _file(desk, berlin(13, 10), SAM, "it", "Hardware", "normal")
    assert it1 == "IT-1"

    it2 = await _file(desk, berlin(16, 10), SAM, "it", "Hardware", "normal")
    await _do(desk, berlin(16, 10, 30), ALICE, work.claim, it2)
    await _do(desk, berlin(16, 14), ALICE, work.resolve, it2, "New charger")
    await _do(desk, berlin(16, 14, 5), SAM, survey.rate, it2, 5, "Alice saved my demo!")

    it3 = await _file(desk, berlin(20, 16, 30), FAY, "it", "Software", "normal")
    await _do(desk, berlin(23, 9, 30), BOB, work.reply, it3, "Looking at it")
    await _do(desk, berlin(23, 10), BOB, work.wait_on_requester, it3, "Which version?")
    it4 = await _file(desk, berlin(23, 10), SAM, "it", "Hardware", "urgent")
    await _sweep(desk, berlin(23, 12, 30))
    await _do(desk, berlin(23, 13), ALICE, work.claim, it4)
    await _sweep(desk, berlin(23, 14))
    await _do(desk, berlin(23, 15), ALICE, work.resolve, it4, "Swapped the dock")
    await _do(desk, berlin(23, 15, 10), SAM, survey.rate, it4, 2, "Too slow")
    await _do(desk, berlin(24, 9), SAM, survey.reopen, it4, "Still flickers")

    it5 = await _file(desk, berlin(24, 9), CAROL, "it", "Access", "normal")
    await _do(desk, berlin(24, 9, 10), ALICE, work.claim, it5)
    await _do(desk, berlin(24, 9, 40), ALICE, work.resolve, it5, "Granted")
    await _do(desk, berlin(24, 9, 45), CAROL, survey.rate, it5, 3)

    fin1 = await _file(desk, berlin(24, 10), SAM, "finance", None, "normal")
    await _do(desk, berlin(24, 10, 20), FAY, work.claim, fin1)
    await _do(desk, berlin(24, 10, 30), ALICE, work.resolve, it4, "New dock")
    await _do(desk, berlin(24, 10, 35), SAM, survey.rate, it4, 4)
    await _do(desk, berlin(24, 12), FAY, work.resolve, fin1, "Refunded")
    await _do(desk, berlin(24, 12, 5), SAM, survey.rate, fin1, 5, "Quick refund, thanks Fay")

    await _do(desk, berlin(25, 9), FAY, work.reply, it3, "Version 12")
    fin2 = await _file(desk, berlin(25, 10), SAM, "finance", None, "normal")
    await _do(desk, berlin(25, 11), BOB, work.resolve, it3, "Updated")
    await _do(desk, berlin(25, 12), FAY, work.reply, fin2, "On it")
    it6 = await _file(desk, berlin(25, 15), SAM, "it", "Access", "low")

    fin3 = await _file(desk, berlin(26, 9), CAROL, "finance", None, "normal")
    await _do(desk, berlin(26, 9, 30), FAY, work.claim, fin3)
    await _do(desk, berlin(26, 10), FAY, work.resolve, fin2, "Paid")
    await _do(desk, berlin(26, 10, 5), SAM, survey.rate, fin2, 1, "Took a whole day")
    await _do(desk, berlin(26, 13), FAY, work.resolve, fin3, "Booked")
    await _do(desk, berlin(26, 13, 5), CAROL, survey.rate, fin3, 5)
    fin4 = await _file(desk, berlin(26, 14), SAM, "finance", None, "normal")
    await _do(desk, berlin(26, 14, 10), FAY, work.claim, fin4)
    await _do(desk, berlin(26, 16), BOB, work.reply, it6, "Which system?")
    await _do(desk, berlin(26, 16, 30), BOB, work.resolve, it6, "Access granted")

    await _do(desk, berlin(27, 9), SAM, survey.reopen, it6, "Still locked out")
    await _file(desk, berlin(27, 10), NEWCOMER, "finance", None, "normal")
    await _do(desk, berlin(27, 12), FAY, work.resolve, fin4, "Reimbursed")
    await _file(desk, berlin(27, 16), FAY, "it", "Hardware", "normal")
    await _file(desk, berlin(27, 16, 30), SAM, "it", "Hardware", "urgent")

    await _file(desk, berlin(30, 9, 30), CAROL, "it", "Software", "normal")
    period = Period()
    await _sweep(desk, period.now)
    return period
