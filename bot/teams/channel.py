"""Teams as a delivery channel: proactive posts through the Bot Framework.

Channel cards go to the team's channel (and are edited in place), thread lines
into the card's reply chain, DMs into the person's personal chat, which is
created (with the tenant id) when the bot has never spoken to them. The answer to
what a person did goes back into the conversation they spoke in, with the turn's
own conversation reference (bot/teams/answers.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.render import digest_lines
from bot.teams import answers, cards
from bot.teams.bot import CHANNEL, channel_of, image_attachment
from handlers.addresses import any_address, find_address, remember_address
from handlers.delivery import RATE_LIMITED, DeliveryError, PendingNotice, Recipient
from handlers.digest import insight_from_payload
from handlers.notices import NoticeKind
from handlers.sla import snapshot_time_left
from models.clock import Clock
from models.i18n import reader
from models.stored_calendar import calendar_from_spec

Members = Callable[[int], Awaitable[list[tuple[str, str]]]]


@dataclass
class TeamsChannel:
    adapter: CloudAdapter
    app_id: str
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    team_members: Members  # (email, name) of a team's members, for the Assign choice
    default_timezone: str = "UTC"
    name: str = CHANNEL

    async def reaches(self, recipient: Recipient) -> bool:
        if recipient.destination is not None and answers.is_teams_answer(recipient.destination):
            return True  # the conversation the person spoke in, named in full
        async with self.sessions() as session:
            if recipient.destination is not None:
                return bool(recipient.destination.get("teams_channel")) and (
                    await any_address(session, CHANNEL) is not None
                )
            if recipient.team is not None:
                channel = recipient.team.teams_channel
                return bool(channel) and (
                    await find_address(session, CHANNEL, "channel", str(channel)) is not None
                    or await any_address(session, CHANNEL) is not None
                )
            person = recipient.person
            if person is None or not person.teams_user_id:
                return False
            # A person we have an address for, or one we can open a chat with.
            return await any_address(session, CHANNEL) is not None

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        try:
            if notice.kind == NoticeKind.COMMAND_ANSWER:
                return await self._answer(notice)
            if notice.kind == NoticeKind.DIGEST:
                return await self._digest(notice)
            if notice.recipient.team is not None:
                return await self._to_team(notice)
            return await self._to_person(notice)
        except DeliveryError:
            raise
        except (ClientError, TimeoutError, ConnectionError) as error:
            raise DeliveryError(
                f"Teams unreachable: {error!r}", transient=True, code="unreachable"
            ) from error
        except Exception as error:  # botframework-connector raises its own HTTP errors
            raise _delivery_error(error) from error

    async def _answer(self, notice: PendingNotice) -> dict[str, Any]:
        """The answer, rendered for the person when it was queued, as a card: a reply
        to what they sent, or in place of the card they submitted (the request form
        becomes its receipt). Teams cannot be asked whether an earlier attempt got
        through: after one that may have, the answer is sent again (at least once);
        a replacement is an edit, the same however often it is made."""
        where = notice.recipient.destination or {}
        reference = answers.reference(where)
        content = cards.answer(str(notice.payload["text"]))
        replace = where.get(answers.REPLACE)
        if replace:
            try:
                return await self._update(
                    reference,
                    {"conversation": str(reference.conversation.id), "message": replace},
                    content,
                )
            except Exception as error:
                if _status(error) != 404:
                    raise
                # The form is gone (deleted in the meantime): the receipt is posted
                # instead. A conversation that is gone refuses that too: dead letter.
        return await self._send(reference, content, reply_to=reference.activity_id)

    async def _to_team(self, notice: PendingNotice) -> dict[str, Any]:
        team = notice.recipient.team
        assert team is not None and team.teams_channel
        channel_id = str(team.teams_channel)
        reference = await self._channel_reference(channel_id)
        calendar = calendar_from_spec(team.calendar.spec)
        with reader(team.language, calendar.timezone.key):
            if notice.kind == NoticeKind.TEAM_CARD:
                r = notice.payload["request"]
                content = cards.team_card(
                    r,
                    snapshot_time_left(r, calendar, self.clock.now()),
                    await self.team_members(team.id),
                )
                card_ref = notice.refs.get("team_card")
                if card_ref:
                    return await self._update(reference, card_ref, content)
                return await self._send(reference, content)
            line = cards.thread_line(notice.payload, self.clock.now())
        card_ref = notice.refs.get("team_card")
        if card_ref:
            # Into the card's reply chain: the conversation id names the root message.
            reference.conversation.id = f"{channel_id};messageid={card_ref['message']}"
        return await self._send(reference, None, text=line)

    async def _digest(self, notice: PendingNotice) -> dict[str, Any]:
        team = notice.recipient.team
        if team is not None:
            assert team.teams_channel
            channel_id = str(team.teams_channel)
            timezone = calendar_from_spec(team.calendar.spec).timezone.key
            language = team.language
        else:
            language = None
            channel_id = (notice.recipient.destination or {})["teams_channel"]
            timezone = self.default_timezone
        # Imported here: the charts bring matplotlib (~55 MB), which a desk that
        # has not drawn a chart yet need not hold (idle RSS of `serve`, issue 14).
        from bot.reports import charts

        figures = insight_from_payload(notice.payload["insight"])
        with reader(language, timezone):
            content = cards.answer("\n".join(digest_lines(notice.payload, cards.plain)))
            png = (
                charts.team_card_chart(figures.teams[0], figures.weekly)
                if notice.payload["scope"] == "team" and figures.teams
                else charts.attainment_by_week(figures)
            )
        reference = await self._channel_reference(channel_id)
        posted = await self._send(reference, content)
        reference.conversation.id = f"{channel_id};messageid={posted['message']}"
        await self._send_attachment(reference, image_attachment(png))
        return posted

    async def _send_attachment(self, reference: ConversationReference, image: Any) -> None:
        async def send(turn: TurnContext) -> None:
            turn.activity.id = None
            await turn.send_activity(MessageFactory.attachment(image))

        await self._proactive(reference, send)

    async def _to_person(self, notice: PendingNotice) -> dict[str, Any]:
        person = notice.recipient.person
        assert person is not None and person.teams_user_id
        with reader(person.language, person.timezone or self.default_timezone):
            content = cards.dm(notice.kind, notice.payload, self.clock.now())
        reference = await self._person_reference(person.teams_user_id)
        survey_ref = notice.refs.get("survey")
        if notice.kind == NoticeKind.SURVEY_ANSWERED and survey_ref:
            return await self._update(reference, survey_ref, content)
        return await self._send(reference, content)

    async def _channel_reference(self, channel_id: str) -> ConversationReference:
        async with self.sessions() as session:
            stored = await find_address(session, CHANNEL, "channel", channel_id)
            fallback = stored or await any_address(session, CHANNEL)
        if fallback is None:
            raise DeliveryError(
                f"Teams: the bot is not installed where channel {channel_id} is",
                transient=False,
                code="not_installed",
            )
        reference = ConversationReference.deserialize(fallback.reference)
        reference.conversation.id = channel_id
        reference.conversation.conversation_type = "channel"
        return reference

    async def _person_reference(self, user_id: str) -> ConversationReference:
        async with self.sessions() as session:
            stored = await find_address(session, CHANNEL, "person", user_id)
            known = stored or await any_address(session, CHANNEL)
        if stored is not None:
            return ConversationReference.deserialize(stored.reference)
        if known is None:
            raise DeliveryError(
                "Teams: no conversation to start from", transient=False, code="not_installed"
            )
        return await self._open_chat(ConversationReference.deserialize(known.reference), user_id)

    async def _open_chat(self, known: ConversationReference, user_id: str) -> ConversationReference:
        """A 1:1 chat with someone the bot has never spoken to (needs the tenant)."""
        tenant = _tenant(known)
        created: list[ConversationReference] = []

        async def keep(turn: TurnContext) -> None:
            created.append(TurnContext.get_conversation_reference(turn.activity))

        parameters = ConversationParameters(
            is_group=False,
            bot=known.bot,
            tenant_id=tenant,
            members=[ChannelAccount(id=user_id)],
            channel_data={"tenant": {"id": tenant}},
        )
        await self.adapter.create_conversation(
            self.app_id,
            keep,
            parameters,
            channel_id=known.channel_id or "msteams",
            service_url=known.service_url,
        )
        if not created:
            raise DeliveryError(
                f"Teams: could not open a chat with {user_id}", transient=True, code="no_chat"
            )
        reference = created[0]
        async with self.sessions.begin() as session:
            await remember_address(
                session, CHANNEL, "person", user_id, reference.serialize(), self.clock.now()
            )
        return reference

    async def _send(
        self,
        reference: ConversationReference,
        content: cards.Card | None,
        *,
        text: str | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        sent: list[str] = []

        async def send(turn: TurnContext) -> None:
            # A proactive turn's activity id is made up; without replacing it the
            # message would go out as a reply to a message that does not exist. With
            # `reply_to` (an answer) it replies to what the person sent, as an answer
            # given in their turn would.
            turn.activity.id = reply_to
            if content is not None:
                message = MessageFactory.attachment(CardFactory.adaptive_card(content))
            else:
                message = MessageFactory.text(text or "")
            response = await turn.send_activity(message)
            sent.append(str(response.id))

        await self._proactive(reference, send)
        conversation, _root = channel_of(str(reference.conversation.id))
        if content is None:
            conversation = str(reference.conversation.id)
        return {"conversation": conversation, "message": sent[0]}

    async def _update(
        self, reference: ConversationReference, ref: dict[str, Any], content: cards.Card
    ) -> dict[str, Any]:
        async def update(turn: TurnContext) -> None:
            message = MessageFactory.attachment(CardFactory.adaptive_card(content))
            message.id = str(ref["message"])
            await turn.update_activity(message)

        await self._proactive(reference, update)
        return dict(ref)

    async def _proactive(
        self, reference: ConversationReference, logic: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        """Run a proactive turn and let its failure reach the outbox.

        Inside a turn, errors would go to the adapter's on_turn_error, which
        apologises to the conversation: right for a person's message, wrong for a
        delivery that must be retried or dead-lettered.
        """
        failed: list[Exception] = []

        async def guarded(turn: TurnContext) -> None:
            try:
                await logic(turn)
            except Exception as error:
                failed.append(error)

        await self.adapter.continue_conversation(reference, guarded, self.app_id)
        if failed:
            raise failed[0]


def _tenant(reference: ConversationReference) -> str | None:
    conversation = reference.conversation
    return getattr(conversation, "tenant_id", None) if conversation else None


# Bot Framework connector answers that no retry will fix: the notice is a dead
# letter at once, with this reason. Every other failure (429, 5xx, 408, no answer)
# is an outage and is retried.
PERMANENT_STATUS = {
    400: "the connector refused the message as malformed",
    401: "the bot's credentials were refused",
    403: "the bot cannot reach this chat (not installed, removed or blocked)",
    404: "the bot cannot reach this chat (not installed, removed or blocked)",
    413: "the message is too large",
}


def _status(error: Exception) -> int | None:
    """The HTTP status of a connector error (botframework-connector's
    ErrorResponseException carries the response)."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return status if isinstance(status, int) else None


def _delivery_error(error: Exception) -> DeliveryError:
    response = getattr(error, "response", None)
    status = _status(error)
    headers = getattr(response, "headers", None) or {}
    if status == 429:
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        return DeliveryError(
            "Teams: throttled (429)",
            transient=True,
            retry_after=float(retry_after) if retry_after else None,
            code=RATE_LIMITED,
        )
    if isinstance(status, int) and status in PERMANENT_STATUS:
        return DeliveryError(
            f"Teams: HTTP {status}: {PERMANENT_STATUS[status]}",
            transient=False,
            code=f"teams_{status}",
        )
    if isinstance(status, int):
        band = "http_5xx" if status >= 500 else "http_4xx"
        return DeliveryError(f"Teams: HTTP {status}", transient=True, code=band)
    return DeliveryError(f"Teams: {error!r}", transient=True, code="teams_error")
