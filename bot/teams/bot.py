"""The Teams bot: messages, card submissions, reactions and installs.

Like the Slack listeners it only parses, calls a use case and answers; what the
desk has to tell others goes through the outbox (bot/teams/channel.py), and so does
the answer to the person acting: it is queued in the transaction of what they did
(bot/teams/answers.py) and the dispatch loop is nudged to send it at once. Only a
refusal (nothing was stored), the request form itself and `stats` (its chart) are
sent in the turn.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import (
    Activity,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    Attachment,
    ChannelAccount,
    MessageReaction,
)
from botbuilder.schema.teams import TeamInfo
from sqlalchemy.ext.asyncio import AsyncSession

from bot.command_line import ALIASES, KEYED_VERBS, LIST_VERBS, STATS_VERB, Command, parse
from bot.commands import run_command, stats_for, stats_lines
from bot.console import render
from bot.teams import answers, cards
from bot.teams.desk import TeamsDesk
from handlers import notices, queries, survey, work
from handlers.access import active_teams
from handlers.addresses import remember_address
from handlers.errors import DeskError
from handlers.filing import file_request
from handlers.inbound import first_time, thread_of
from handlers.insight import Insight
from models.directory import Person
from models.i18n import _

log = logging.getLogger(__name__)
CHANNEL = "teams"
SURVEY_KINDS = ("resolved", "survey_answered", "survey_reminder")


def picture(figures: Insight) -> bytes:
    # Imported here: the charts bring matplotlib (~55 MB), which a desk that has
    # not drawn a chart yet need not hold (idle RSS of `serve`, issue 14).
    from bot.reports import charts

    if len(figures.teams) == 1:
        return charts.team_card_chart(figures.teams[0], figures.weekly)
    return charts.attainment_by_week(figures)


def image_attachment(png: bytes) -> Attachment:
    """A chart as a Teams image attachment (inline data: no file hosting needed)."""
    return Attachment(
        name="chart.png",
        content_type="image/png",
        content_url="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
    )


def _bot_mentions(activity: Activity) -> list[str]:
    """The texts (`<at>Inhouse</at>`) of the activity's @mentions of the bot.

    botbuilder's TurnContext.remove_recipient_mention fails the turn on a mention
    entity without `mentioned` or `text`, or a message without text; this skips them.
    """
    found = []
    for entity in activity.entities or []:
        props = entity.additional_properties or {}
        mentioned = props.get("mentioned") or {}
        said = props.get("text")
        if (
            entity.type == "mention"
            and mentioned.get("id") == activity.recipient.id
            and isinstance(said, str)
            and said
        ):
            found.append(said)
    return found


def without_bot_mention(activity: Activity) -> str:
    """The text without the bot's @mention ("<at>Inhouse</at> list" -> " list")."""
    text = activity.text or ""
    for said in _bot_mentions(activity):
        text = text.replace(said, "")
    return text


def addressed_to_bot(activity: Activity) -> bool:
    """A personal chat, a card action or an @mention: meant for the bot. Anything
    else in a channel reaches the bot only through the app's consent to read the
    team's channel messages (for replies in its cards' chains), and is left alone."""
    kind = activity.conversation.conversation_type if activity.conversation else None
    return kind in (None, "personal") or bool(activity.value) or bool(_bot_mentions(activity))


def channel_of(conversation_id: str) -> tuple[str, str | None]:
    """`19:x@thread.tacv2;messageid=123` -> ("19:x@thread.tacv2", "123")."""
    base, _sep, rest = conversation_id.partition(";messageid=")
    return base, rest or None


def _rating(data: dict[str, Any]) -> int:
    """The card's rating; anything but a whole number is 0, which survey.rate refuses
    with a message the person can read."""
    try:
        return int(str(data.get("rating") or 0))
    except ValueError:
        return 0


class DeskBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(self, desk: TeamsDesk, wake_dispatch: Callable[[], None]) -> None:
        super().__init__()
        self.desk = desk
        # Runtime.wake_dispatch: after an answer is queued, so it goes out at once.
        self.wake_dispatch = wake_dispatch

    def _queue_answer(
        self, session: AsyncSession, turn: TurnContext, text: str, *, replace: str | None = None
    ) -> None:
        """Queue the answer to this turn in its transaction (see bot/teams/answers.py)."""
        notices.answer(
            session, answers.destination(turn.activity, replace), text, self.desk.clock.now()
        )

    async def _answered(self, turn: TurnContext, outcome: object) -> None:
        """After the turn's transaction: a refusal (a DeskError's message: nothing was
        stored, so there is no row to queue it with) is said at once; a queued answer
        is sent by the dispatch loop, woken now."""
        if isinstance(outcome, str):
            await turn.send_activity(
                MessageFactory.attachment(CardFactory.adaptive_card(cards.answer(outcome)))
            )
        elif outcome:
            self.wake_dispatch()

    # --- messages -------------------------------------------------------------------

    async def on_message_activity(self, turn: TurnContext) -> None:
        activity = turn.activity
        channel, root = channel_of(str(activity.conversation.id))
        if not addressed_to_bot(activity) and not (
            root is not None and await self._in_card_chain(channel, root)
        ):
            return  # people talking among themselves in a channel: nothing is kept
        await self._remember(turn)
        if not await self._first_time(turn):
            return  # Teams retried a message we already handled
        if activity.value:
            await self._card_action(turn, dict(activity.value))
            return
        said = without_bot_mention(activity).strip()
        if root is not None and await self._thread_reply(turn, root, said):
            return
        await self._command(turn, said)

    async def _in_card_chain(self, channel: str, root: str) -> bool:
        async with self.desk.sessions() as session:
            return await thread_of(session, CHANNEL, channel, root) is not None

    async def _command(self, turn: TurnContext, said: str) -> None:
        first = said.split()[0].lower() if said else ""
        if first in ("request", "/request"):
            command = parse("/" + said.lstrip("/"))
        elif first in KEYED_VERBS | LIST_VERBS | {STATS_VERB} | set(ALIASES):
            command = parse("/request " + said)
        else:
            command = Command("unknown", text=said)
        if command.verb == "form":
            await self._send_form(turn)
            return
        if command.verb == "file" and command.team is None:
            command = Command("help")
        if command.verb == STATS_VERB:
            await self._stats(turn, command)
            return

        async def answer(session: AsyncSession, person: Person) -> str:
            if command.verb == "unknown" and said:
                # Plain words in a personal chat: a reply to the one request that waits
                # on this person, when there is exactly one.
                mine = [
                    i.request
                    for i in await queries.my_requests(session, self.desk.clock, person)
                    if i.request.status in ("waiting", "in_progress", "open")
                ]
                if len(mine) == 1:
                    await work.reply(session, self.desk.clock, person, mine[0].key, said)
                    return _("Sent on {key}.", key=mine[0].key)
                if mine:
                    return _(
                        "Which request is this about? Use: reply KEY your message "
                        "(your open requests: {keys})",
                        keys=", ".join(r.key for r in mine),
                    )
            return await run_command(session, self.desk.clock, person, command, cards.plain)

        async def run(session: AsyncSession, person: Person) -> bool:
            # Read-only answers (list, status, help) are queued too: the message is
            # already recorded as handled (_first_time), so Teams sending it again
            # would not bring a lost answer back.
            self._queue_answer(session, turn, await answer(session, person))
            return True

        await self._answered(turn, await self.desk.attempt(turn, run))

    async def _stats(self, turn: TurnContext, command: Command) -> None:
        """The figures as a card, and the chart as a picture after it."""
        chart: list[bytes] = []

        async def work(session: AsyncSession, person: Person) -> str:
            lines = await stats_lines(session, self.desk.clock, person, command, cards.plain)
            figures = await stats_for(session, self.desk.clock, person, command)
            chart.append(picture(figures))
            return "\n".join(lines)

        answer = await self.desk.attempt(turn, work)
        await turn.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(cards.answer(answer)))
        )
        if chart:
            await turn.send_activity(MessageFactory.attachment(image_attachment(chart[0])))

    async def _thread_reply(self, turn: TurnContext, root: str, said: str) -> bool:
        """A reply in a request card's chain goes to the requester (or stays a note)."""
        conversation, _root = channel_of(str(turn.activity.conversation.id))
        internal = said.startswith(self.desk.note_prefix)
        body = said[len(self.desk.note_prefix) :] if internal else said
        handled = False

        async def relay(session: AsyncSession, person: Person) -> None:
            nonlocal handled
            link = await thread_of(session, CHANNEL, conversation, root)
            if link is None:
                return
            handled = True
            key = await queries.request_key(session, link.request_id)
            await work.reply(session, self.desk.clock, person, key, body, internal=internal)

        refusal = await self.desk.attempt(turn, relay)
        if isinstance(refusal, str):
            await turn.send_activity(refusal)
        return handled

    # --- cards ------------------------------------------------------------------------

    async def _send_form(
        self, turn: TurnContext, error: str | None = None, values: dict[str, str] | None = None
    ) -> None:
        async def build(session: AsyncSession, _person: Person) -> cards.Card:
            teams = await active_teams(session)
            return cards.request_form(
                [(t.key, t.name, list(t.categories)) for t in teams], error, values
            )

        form = await self.desk.attempt(turn, build)
        if isinstance(form, str):
            await turn.send_activity(form)
            return
        message = MessageFactory.attachment(CardFactory.adaptive_card(form))
        if error and turn.activity.reply_to_id:
            # Errors come back on the card that was submitted.
            message.id = turn.activity.reply_to_id
            await turn.update_activity(message)
        else:
            await turn.send_activity(message)

    async def _card_action(self, turn: TurnContext, data: dict[str, Any]) -> None:
        action, key = str(data.get("action") or ""), str(data.get("key") or "")
        clock = self.desk.clock
        if action == "file":
            await self._file_from_form(turn, data)
            return

        async def answer(session: AsyncSession, person: Person) -> str | None:
            match action:
                case "claim":
                    await work.claim(session, clock, person, key)
                case "assign":
                    await work.assign(session, clock, person, key, str(data.get("assignee")))
                case "wait":
                    await work.wait_on_requester(
                        session, clock, person, key, str(data.get("text") or "")
                    )
                case "resolve":
                    await work.resolve(session, clock, person, key, str(data.get("note") or ""))
                case "reply":
                    await work.reply(session, clock, person, key, str(data.get("text") or ""))
                    return _("Sent on {key}.", key=key)
                case "rate":
                    rated = await survey.rate(session, clock, person, key, _rating(data))
                    return None if rated.offer_reopen else _("Thanks for rating {key}!", key=key)
                case "reopen":
                    await survey.reopen(session, clock, person, key)
                    return _("{key} is reopened; the team has been told.", key=key)
                case "comment":
                    await survey.add_comment(
                        session, clock, person, key, str(data.get("text") or "")
                    )
                    return _("Thanks, your comment reached the team.")
                case "status":
                    return await run_command(
                        session, clock, person, Command("status", key=key), cards.plain
                    )
                case _:
                    return _("That button is no longer supported.")
            return None

        async def run(session: AsyncSession, person: Person) -> bool:
            said = await answer(session, person)
            if said:
                self._queue_answer(session, turn, said)
            return bool(said)

        await self._answered(turn, await self.desk.attempt(turn, run))

    async def _file_from_form(self, turn: TurnContext, data: dict[str, Any]) -> None:
        values = {
            k: str(data.get(k) or "")
            for k in ("team", "category", "priority", "title", "description")
        }
        failure: list[str] = []

        async def run(session: AsyncSession, person: Person) -> bool:
            try:
                async with session.begin_nested():
                    filed = await file_request(
                        session,
                        self.desk.clock,
                        person,
                        team=values["team"],
                        title=values["title"],
                        description=values["description"],
                        category=values["category"] or None,
                        priority=values["priority"] or "normal",
                        source_ref=f"teams:{turn.activity.id}",
                    )
                    # The submitted form becomes the receipt (replaced in place).
                    self._queue_answer(
                        session,
                        turn,
                        render.filed(filed.request, cards.plain),
                        replace=turn.activity.reply_to_id,
                    )
                    return True
            except DeskError as error:
                failure.append(error.render(cards.plain))
                return False

        outcome = await self.desk.attempt(turn, run)
        if failure:
            await self._send_form(turn, failure[0], values)
        else:
            await self._answered(turn, outcome)

    async def on_adaptive_card_invoke(
        self, turn: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        """Action.Execute (Universal Actions): the same actions as Action.Submit."""
        action = dict(invoke_value.action or {})
        data = {**dict(action.get("data") or {}), "action": action.get("verb")}
        await self._card_action(turn, data)
        return AdaptiveCardInvokeResponse(
            status_code=200,
            type="application/vnd.microsoft.card.adaptive",
            value=cards.answer(_("Done.")),
        )

    # --- reactions, installs ------------------------------------------------------------

    async def on_reactions_added(
        self, message_reactions: list[MessageReaction], turn: TurnContext
    ) -> None:
        rating = next(
            (
                cards.REACTION_RATINGS[r.type]
                for r in message_reactions
                if r.type in cards.REACTION_RATINGS
            ),
            None,
        )
        reacted_to = turn.activity.reply_to_id
        if rating is None or not reacted_to:
            return
        conversation = str(turn.activity.conversation.id)

        async def rate(session: AsyncSession, person: Person) -> None:
            if not await first_time(session, f"teams:{turn.activity.id}", self.desk.clock.now()):
                return
            link = await thread_of(session, CHANNEL, conversation, str(reacted_to))
            if link is None or link.kind not in SURVEY_KINDS:
                return
            key = await queries.request_key(session, link.request_id)
            await survey.rate(session, self.desk.clock, person, key, rating)

        refusal = await self.desk.attempt(turn, rate)
        if isinstance(refusal, str):
            await turn.send_activity(refusal)

    async def on_teams_members_added(
        self,
        teams_members_added: list[ChannelAccount],
        team_info: TeamInfo,
        turn: TurnContext,
    ) -> None:
        await self._remember(turn)

    async def on_installation_update_add(self, turn: TurnContext) -> None:
        await self._remember(turn)

    async def _remember(self, turn: TurnContext) -> None:
        """Keep where we may write later: this channel, or this person's chat."""
        activity: Activity = turn.activity
        reference = TurnContext.get_conversation_reference(activity)
        data = activity.channel_data or {}
        # Opening a chat later needs the tenant, which the reference leaves out.
        reference.conversation.tenant_id = activity.conversation.tenant_id or (
            data.get("tenant") or {}
        ).get("id")
        conversation = str(activity.conversation.id)
        now = self.desk.clock.now()
        async with self.desk.sessions.begin() as session:
            if activity.conversation.conversation_type == "channel":
                channel_id, _root = channel_of(conversation)
                channel_id = str((data.get("channel") or {}).get("id") or channel_id)
                reference.conversation.id = channel_id
                await remember_address(
                    session, CHANNEL, "channel", channel_id, reference.serialize(), now
                )
            elif activity.conversation.conversation_type in (None, "personal"):
                await remember_address(
                    session,
                    CHANNEL,
                    "person",
                    str(activity.from_property.id),
                    reference.serialize(),
                    now,
                )

    async def _first_time(self, turn: TurnContext) -> bool:
        async with self.desk.sessions.begin() as session:
            return await first_time(session, f"teams:{turn.activity.id}", self.desk.clock.now())
