"""Run a parsed command for one person and answer in text: shared by every channel.

Channels differ in how they show an answer (terminal text, Slack mrkdwn, Teams
text), so names and titles pass through the channel's `esc` function: Slack
escapes them so nobody can smuggle a mention or a link into an answer.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.briefing import organisation_lines, recognition_lines, team_lines
from bot.command_line import ME, Command, did_you_mean, period_days
from bot.console import render
from bot.console.render import Escape, Instant
from handlers import queries, survey, work
from handlers.filing import file_request
from handlers.insight import Insight, insight
from handlers.people import teams_of
from handlers.recognition import for_reader
from models.clock import Clock
from models.directory import Person
from models.i18n import _, format_when, ngettext


def needs_savepoint(c: Command) -> bool:
    """Whether a refusal of this command could come after it wrote something (so
    bot.acting runs it in a savepoint, to undo that). Not a quick-file:
    `file_request` refuses only before its first write."""
    return c.verb != "file"


async def run_command(
    session: AsyncSession,
    clock: Clock,
    person: Person,
    c: Command,
    esc: Escape,
    *,
    when: Instant = format_when,
) -> str:
    """The answer to one command, with people's text through `esc` and instants
    through `when` (the channel's ways of showing them)."""
    key = c.key or ""
    match c.verb:
        case "file":
            title, _nl, description = c.text.partition("\n")
            result = await file_request(
                session, clock, person, team=c.team or "", title=title, description=description
            )
            return render.filed(result.request, esc, when)
        case "list":
            return render.my_list(await queries.my_requests(session, clock, person), esc)
        case "queue":
            return render.queue(await queries.team_queue(session, clock, person, c.team), esc)
        case "status":
            story = await queries.request_story(session, clock, person, key)
            return render.story(story, esc, when)
        case "claim":
            done = await work.claim(session, clock, person, key)
            return _("You hold {key} now.", key=done.request.key)
        case "assign":
            if c.text.strip().lower() == ME:
                done = await work.take_over(session, clock, person, key)
            else:
                done = await work.assign(session, clock, person, key, c.text)
            assignee = done.request.assignee
            return _(
                "{key} is with {name} now.",
                key=done.request.key,
                name=esc(assignee.display_name if assignee else "?"),
            )
        case "reply":
            done = await work.reply(session, clock, person, key, c.text)
            return _("Sent on {key}.", key=done.request.key)
        case "note":
            done = await work.reply(session, clock, person, key, c.text, internal=True)
            return _("Internal note added to {key}.", key=done.request.key)
        case "wait":
            done = await work.wait_on_requester(session, clock, person, key, c.text)
            return _(
                "{key} now waits on {name}; its clock is paused.",
                key=done.request.key,
                name=esc(done.request.requester.display_name),
            )
        case "resume":
            done = await work.resume(session, clock, person, key)
            return _("Work on {key} resumed.", key=done.request.key)
        case "resolve":
            done = await work.resolve(session, clock, person, key, c.text)
            return _(
                "{key} is resolved; {name} has been asked how it went.",
                key=done.request.key,
                name=esc(done.request.requester.display_name),
            )
        case "priority":
            wanted = render.priority_typed(c.text)
            done = await work.set_priority(session, clock, person, key, wanted)
            return _(
                "{key} is {priority} now.",
                key=done.request.key,
                priority=render.priority_label(done.request.priority),
            )
        case "rate":
            return await _rate(session, clock, person, key, c.text)
        case "comment":
            await survey.add_comment(session, clock, person, key, c.text)
            return _("Thanks, your comment reached the team.")
        case "reopen":
            request = await survey.reopen(session, clock, person, key, c.text)
            return _(
                "{key} is reopened; {team} has been told.",
                key=request.key,
                team=esc(request.team.name),
            )
        case "close":
            request = await survey.close(session, clock, person, key)
            return _("{key} is closed. Thanks!", key=request.key)
        case "stats":
            return "\n".join(await stats_lines(session, clock, person, c, esc))
        case "form":
            return _("Type: /request <team> <what you need>, e.g. /request it My laptop won't boot")
        case "unknown":
            guess = did_you_mean(c.text)
            if guess:  # a typo: name the word it was meant to be, not the whole list
                return _(
                    "I don't know '{word}'. Did you mean '{guess}'?", word=esc(c.text), guess=guess
                )
            return _("I don't know '{word}'.", word=esc(c.text)) + "\n" + help_text()
        case _:
            return help_text()


async def stats_for(session: AsyncSession, clock: Clock, person: Person, c: Command) -> Insight:
    """`stats [team] [period]`: one team (given, or the asker's own), else every team."""
    now = clock.now()
    team = c.team
    if team is None:
        mine = await teams_of(session, person.id)
        team = mine[0].key if mine else None
    figures = await insight(
        session, since=now - timedelta(days=period_days(c.text)), until=now, now=now, team=team
    )
    return await for_reader(session, figures, person)


async def stats_lines(
    session: AsyncSession, clock: Clock, person: Person, c: Command, esc: Escape
) -> list[str]:
    figures = await stats_for(session, clock, person, c)
    days = period_days(c.text)
    header = ngettext("The last {n} day:", "The last {n} days:", days)
    if len(figures.teams) == 1:
        return [header, *team_lines(figures.teams[0], esc), *recognition_lines(figures, esc)]
    return [header, *organisation_lines(figures, esc)]


async def _rate(session: AsyncSession, clock: Clock, person: Person, key: str, text: str) -> str:
    number, _sp, comment = text.partition(" ")
    if not number.isdigit():
        return "⚠ " + _("Rate with a number, e.g. rate {key} 5 great work.", key=key)
    rated = await survey.rate(session, clock, person, key, int(number), comment)
    if rated.offer_reopen:
        return _(
            "Sorry it went badly. Tell the team why with: comment {key} <text>, "
            "or reopen it with: reopen {key}",
            key=rated.request.key,
        )
    return _("Thanks for rating {key}!", key=rated.request.key)


def help_text() -> str:
    return "\n".join(
        [
            _("What you can type:"),
            _("  /request <team> <what you need>   file a request (first line = title)"),
            _("  /request                          file step by step"),
            _("  /request list                     your open requests"),
            _("  /request status KEY               one request and its history"),
            _("  /request queue [team]             your team's queue, most urgent first"),
            _("  claim KEY | assign KEY EMAIL|me | reply KEY text | note KEY text"),
            _("  wait KEY [question] | resume KEY | resolve KEY what was done"),
            _("  priority KEY {choices}", choices="|".join(render.priority_words())),
            _("  rate KEY 1-5 [comment] | comment KEY text | reopen KEY [why] | close KEY"),
            _("  /request stats [team] [7d|30d|month]   how a team kept its promises"),
        ]
    )
