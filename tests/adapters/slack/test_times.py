"""Times in Slack: each reader sees an instant in their own zone, unambiguously;
a changed Slack profile is followed; the acknowledgement speaks the catalog's
language.

The world runs on a ManualClock (story time), so due times and the profile cache
are exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.profiles import PROFILE_TTL
from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.clock import ManualClock
from models.directory import Person
from tests.adapters.slack.conftest import CATALOG, SlackWorld, running
from tests.fakes.slack_dates import dates_in, shown_to

# Tuesday 1 December 2026, 10:00 in Berlin.
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

# A team on office hours whose normal resolution standard is ten working days, and
# people whose language and zone the catalog sets (which Slack profiles do not move).
TIMES_CATALOG = (
    CATALOG.replace(
        "calendars:\n  always: 24x7\n",
        "calendars:\n  always: 24x7\n"
        '  office: {timezone: Europe/Berlin, hours: {mon-fri: "09:00-17:00"}}\n',
    )
    .replace(
        "  - {email: fay@example.com, name: Fay Finance, department: Finance, slack: U0FAY}\n",
        "  - {email: fay@example.com, name: Fay Finance, department: Finance, slack: U0FAY,\n"
        "     language: it, timezone: Europe/London}\n"
        "  - {email: gerd@example.com, name: Gerd Gruber, department: Sales, slack: U0GERD,\n"
        "     language: de}\n",
    )
    .replace(
        "survey:",
        """  - key: facilities
    name: Facilities
    slack_channel: C0FAC
    language: de
    members: [bob@example.com]
    calendar: office
    standards:
      normal: {first_response: 4h, resolution: 10d}
survey:""",
    )
)

# Words that must not reach a German or Italian reader (command keywords such as
# `comment` or `priority` stay English for everyone, by design).
ENGLISH = (
    "Filing your request",
    "<what you need>",
    " text",
    "[question]",
    "what was done",
    "[why]",
    "[comment]",
    "urgent|high",
    "aims to",
    "respond by",
    " AM",
    " PM",
)


def dates_key(answer: str) -> str:
    """The request key a filing answer names (IT-1, ...)."""
    return next(word.rstrip(":") for word in answer.split() if word.startswith("IT-"))


def leftovers(text: str) -> list[str]:
    return [word for word in ENGLISH if word in text]


@pytest.fixture
async def slack(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> AsyncIterator[tuple[SlackWorld, ManualClock]]:
    clock = ManualClock(START)
    async with running(tmp_path, sqlite_template, unused_tcp_port, clock=clock) as world:
        world.fake.add_channel("C0FAC")
        for user, name, tz, locale in (
            ("U0HANS", "Hans Huber", "Europe/Berlin", "de-DE"),
            ("U0GIULIA", "Giulia Verdi", "Europe/Rome", "it-IT"),
            ("U0GERD", "Gerd Gruber", "Europe/Berlin", "en-US"),
        ):
            world.fake.add_user(
                user,
                email=f"{name.split()[0].lower()}@example.com",
                real_name=name,
                name=name,
                tz=tz,
                locale=locale,
            )
            world.fake.add_channel(f"D{user}", members=[user, world.fake.bot_user_id])
        async with world.runtime.sessions.begin() as session:
            await apply_catalog(session, parse_catalog(TIMES_CATALOG, "times.yaml"))
        yield world, clock


async def test_a_channel_card_shows_each_member_their_own_time(
    slack: tuple[SlackWorld, ManualClock],
) -> None:
    world, clock = slack
    await world.say("U0SAM", "it Printer on fire")
    await world.deliver()
    card = str(world.card().blocks)
    due = (await world.request("IT-1")).first_response_due_at
    [shown] = dates_in(card)
    assert shown.instant == due == START + timedelta(hours=4)
    assert shown.tokens == "{date_short_pretty} {time}"
    # The fallback: the channel's language and its calendar's zone (24x7 is UTC).
    assert shown.fallback == "Tue 13:00"
    # What Slack shows: Alice in Berlin and a colleague in New York, each their own.
    assert "respond by today 2:00 PM" in shown_to(card, "Europe/Berlin", clock.now())
    assert "respond by today 8:00 AM" in shown_to(card, "America/New_York", clock.now())
    # Three hours on, the warning in the card's thread: the same instant, marked up.
    clock.advance(timedelta(hours=3))
    await world.runtime.sweep()
    await world.deliver()
    warning = world.fake.messages["C0ITDESK"][-1]
    assert warning.thread_ts == world.card().ts
    assert [(d.instant, d.fallback) for d in dates_in(warning.text)] == [(due, "Tue 13:00")]
    assert "lapses today 2:00 PM" in shown_to(warning.text, "Europe/Berlin", clock.now())
    # Alice takes it; when the resolution standard nears, her DM says when it
    # lapses, three days on: Friday, a weekday is enough.
    assert "You hold IT-1 now." in await world.say("U0ALICE", "claim IT-1")
    clock.advance(timedelta(hours=52))
    await world.runtime.sweep()
    await world.deliver()
    dm = world.dms("U0ALICE")[-1]
    [lapse] = dates_in(str(dm.blocks))
    assert lapse.instant == (await world.request("IT-1")).resolution_due_at
    assert lapse.fallback == "Fri 10:00"  # Alice's zone, Berlin
    # The notification text (where Slack formats nothing) reads the fallback.
    assert "<!date" not in dm.text and "Fri 10:00" in dm.text


async def test_a_ten_working_day_promise_names_its_date(
    slack: tuple[SlackWorld, ManualClock],
) -> None:
    world, clock = slack
    answer = await world.say("U0SAM", "facilities Chair is broken")
    request = await world.request("FACILITIES-1")
    respond, resolve = dates_in(answer)
    assert respond.instant == request.first_response_due_at
    assert resolve.instant == request.resolution_due_at
    # Tuesday 10:00 plus ten working days is the Tuesday after next: with its date.
    assert resolve.fallback == "Tue, Dec 15, 10:00"
    assert respond.fallback == "Tue 14:00"  # today: a weekday is enough
    assert "resolve by Dec 15, 2026 10:00 AM" in shown_to(answer, "Europe/Berlin", clock.now())
    # The team's German channel card: German style, still each member's own zone.
    await world.deliver()
    [card_due] = dates_in(str(world.card("C0FAC").blocks))
    assert card_due.fallback == "Di., 14:00"
    # An hour on, the story says the past with its date, in the same style.
    clock.advance(timedelta(hours=1))
    story = await world.say("U0SAM", "status FACILITIES-1")
    assert [d.fallback for d in dates_in(story)] == ["Tue, Dec 1, 10:00"] * 2


async def test_german_and_italian_readers_get_their_own_style(
    slack: tuple[SlackWorld, ManualClock],
) -> None:
    world, _clock = slack
    german = await world.say("U0HANS", "facilities Stuhl kaputt")
    italian = await world.say("U0GIULIA", "facilities Sedia rotta")
    assert [d.fallback for d in dates_in(german)] == ["Di., 14:00", "Di., 15. Dez., 10:00"]
    # Giulia is in Rome (the same hour as Berlin) and reads Italian.
    assert [d.fallback for d in dates_in(italian)] == ["mar 14:00", "mar 15 dic, 10:00"]
    assert not leftovers(german) and not leftovers(italian), (german, italian)


async def test_a_changed_slack_profile_is_followed_within_the_refresh_period(
    slack: tuple[SlackWorld, ManualClock],
) -> None:
    world, clock = slack
    first = await world.say("U0NEW", "it Printer jam")
    assert "Filed IT-1" in first
    assert dates_in(first)[0].fallback == "Tue 08:00"  # New York
    # The person moves to Rome and switches Slack to Italian.
    world.fake.add_user(
        "U0NEW",
        email="newbie@example.com",
        real_name="New Person",
        name="New Person",
        tz="Europe/Rome",
        locale="it-IT",
    )
    clock.advance(PROFILE_TTL / 2)
    meanwhile = await world.say("U0NEW", "list")
    assert "You have 1 open request" in meanwhile  # what Slack said is still fresh
    clock.advance(PROFILE_TTL / 2)
    after = await world.say("U0NEW", "it Toner empty")
    assert "Richiesta IT-2 aperta" in after, after
    assert dates_in(after)[0].fallback == "mar 14:10"  # Rome: four hours on from 10:10
    async with world.runtime.sessions() as session:
        person = await session.scalar(select(Person).where(Person.slack_user_id == "U0NEW"))
        assert person is not None
        assert (person.timezone, person.language) == ("Europe/Rome", "it-IT")
    assert len(world.fake.calls_to("users.info")) == 2


async def test_the_catalog_keeps_what_it_sets_and_the_acknowledgement_speaks_it(
    slack: tuple[SlackWorld, ManualClock],
) -> None:
    world, clock = slack
    # Gerd's Slack is English, the catalog says German; nothing was said to him yet.
    sent = await world.driver.command("U0GERD", "it Drucker brennt")
    assert sent.json["text"] == "⏳ Ihre Anfrage wird eingereicht…"
    filed = await world.answer(sent)
    assert "Anfrage IT-1 eingereicht" in filed
    # Fay: Italian and London from the catalog; her Slack says English and Berlin.
    sent = await world.driver.command("U0FAY", "it Stampante rotta")
    assert sent.json["text"] == "⏳ Sto registrando la tua richiesta…"
    assert "Richiesta IT-2 aperta" in await world.answer(sent)
    clock.advance(PROFILE_TTL * 2)
    again = await world.say("U0FAY", "it Toner finito")
    assert "Richiesta IT-3 aperta" in again
    assert dates_in(again)[0].fallback == "mar 13:20"  # London, not Berlin's profile
    async with world.runtime.sessions() as session:
        fay = await session.scalar(select(Person).where(Person.slack_user_id == "U0FAY"))
        assert fay is not None
        assert (fay.timezone, fay.language) == ("Europe/London", "it")


async def test_german_and_italian_readers_meet_no_english_in_slack(
    slack: tuple[SlackWorld, ManualClock],
) -> None:
    world, _clock = slack
    # Neither is in the catalog: the desk learns their language from Slack when they
    # first say something (a quick-file acknowledged before that reads English).
    for user, keyword in (("U0HANS", "hilfe"), ("U0GIULIA", "aiuto")):
        said = [await world.say(user, keyword)]
        sent = await world.driver.command(user, "it Etwas")
        said += [sent.json["text"], await world.answer(sent)]
        said.append(await world.say(user, "status " + dates_key(said[-1])))
        found = leftovers("\n".join(said))
        assert not found, (user, found, said)
