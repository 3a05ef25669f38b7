"""Slack as a delivery channel for the outbox: post, edit in place, thread, DM."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.console.render import digest_lines
from bot.reports import charts
from bot.reports.charts import team_card_chart
from bot.slack import messages
from bot.slack.mrkdwn import escape
from handlers.delivery import DeliveryError, PendingNotice, Recipient
from handlers.digest import insight_from_payload
from handlers.notices import NoticeKind
from handlers.sla import snapshot_time_left
from models.clock import Clock
from models.i18n import reader
from models.stored_calendar import calendar_from_spec

log = logging.getLogger(__name__)

# Slack errors that no retry will fix: the notice is dead-lettered with the reason.
PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "users_not_found",
    "account_inactive",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "missing_scope",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
    "cannot_dm_bot",
    "user_disabled",
    "restricted_action",
}

RememberSlackId = Callable[[int, str], Awaitable[None]]


@dataclass
class SlackChannel:
    client: AsyncWebClient
    clock: Clock
    remember_slack_id: RememberSlackId
    default_timezone: str = "UTC"
    name: str = "slack"
    _dm_channels: dict[str, str] = field(default_factory=dict)
    _unknown_emails: set[str] = field(default_factory=set)

    async def reaches(self, recipient: Recipient) -> bool:
        if recipient.destination is not None:
            return bool(recipient.destination.get("slack_channel"))
        if recipient.team is not None:
            return bool(recipient.team.slack_channel)
        person = recipient.person
        if person is None:
            return False
        if person.slack_user_id:
            return True
        if not person.email or person.email in self._unknown_emails:
            return False
        # People the catalog names by email: find them in Slack once, then remember.
        try:
            found = await self.client.users_lookupByEmail(email=person.email)
        except SlackApiError as error:
            if error.response.get("error") == "users_not_found":
                self._unknown_emails.add(person.email)
            return False
        except ClientError:
            return False
        user_id = str(found["user"]["id"])
        person.slack_user_id = user_id
        await self.remember_slack_id(person.id, user_id)
        return True

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        try:
            if notice.kind == NoticeKind.DIGEST:
                return await self._digest(notice)
            if notice.recipient.team is not None:
                return await self._to_team(notice)
            return await self._to_person(notice)
        except SlackApiError as error:
            raise _delivery_error(error) from error
        except (ClientError, TimeoutError) as error:
            raise DeliveryError(
                f"Slack unreachable: {error!r}", transient=True, code="unreachable"
            ) from error

    async def _to_team(self, notice: PendingNotice) -> dict[str, Any]:
        team = notice.recipient.team
        assert team is not None and team.slack_channel
        calendar = calendar_from_spec(team.calendar.spec)
        with reader(team.language, calendar.timezone.key):
            if notice.kind == NoticeKind.TEAM_CARD:
                time_left = snapshot_time_left(
                    notice.payload["request"], calendar, self.clock.now()
                )
                text, blocks = messages.team_card(notice.payload["request"], time_left)
                card = notice.refs.get("team_card")
                if card:
                    return await self._update(card, text, blocks)
                return await self._post(team.slack_channel, text, blocks)
            # Thread lines (replies, notes, ratings, warnings) go under the card.
            card = notice.refs.get("team_card")
            text = messages.thread_line(notice.payload)
            thread_ts = str(card["message"]) if card else None
            channel = str(card["conversation"]) if card else team.slack_channel
            return await self._post(channel, text, None, thread_ts=thread_ts)

    async def _digest(self, notice: PendingNotice) -> dict[str, Any]:
        """The week's figures as a message, and its chart as a picture beside it."""
        team = notice.recipient.team
        if team is not None:
            assert team.slack_channel
            channel = team.slack_channel
            timezone = calendar_from_spec(team.calendar.spec).timezone.key
            language = team.language
        else:
            language = None
            channel = (notice.recipient.destination or {})["slack_channel"]
            timezone = self.default_timezone
        figures = insight_from_payload(notice.payload["insight"])
        with reader(language, timezone):
            text = "\n".join(digest_lines(notice.payload, escape))
            picture = (
                team_card_chart(figures.teams[0], figures.weekly)
                if notice.payload["scope"] == "team" and figures.teams
                else charts.overview(figures)
            )
        posted = await self._post(channel, text, None)
        await self.client.files_upload_v2(
            channel=posted["conversation"],
            thread_ts=posted["message"],
            content=picture,
            filename=f"week-{notice.payload['week']}.png",
            title=f"{notice.payload['week']}",
        )
        return posted

    async def _to_person(self, notice: PendingNotice) -> dict[str, Any]:
        person = notice.recipient.person
        assert person is not None and person.slack_user_id
        with reader(person.language, person.timezone or self.default_timezone):
            if notice.kind == NoticeKind.RESOLVED:
                text, blocks = messages.survey(notice.payload)
            elif notice.kind == NoticeKind.SURVEY_ANSWERED:
                text, blocks = messages.survey_answered(notice.payload)
                survey = notice.refs.get("survey")
                if survey:
                    return await self._update(survey, text, blocks)
            else:
                text, blocks = messages.dm(notice.kind, notice.payload)
        channel = await self._dm_channel(person.slack_user_id)
        return await self._post(channel, text, blocks)

    async def _dm_channel(self, user_id: str) -> str:
        if user_id not in self._dm_channels:
            opened = await self.client.conversations_open(users=user_id)
            self._dm_channels[user_id] = str(opened["channel"]["id"])
        return self._dm_channels[user_id]

    async def _post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None,
        *,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        posted = await self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return {"conversation": str(posted["channel"]), "message": str(posted["ts"])}

    async def _update(self, ref: dict[str, Any], text: str, blocks: list[Block]) -> dict[str, Any]:
        updated = await self.client.chat_update(
            channel=str(ref["conversation"]), ts=str(ref["message"]), text=text, blocks=blocks
        )
        return {"conversation": str(updated["channel"]), "message": str(updated["ts"])}


def _delivery_error(error: SlackApiError) -> DeliveryError:
    response = error.response
    code = str(response.get("error") or f"HTTP {response.status_code}")
    if response.status_code == 429 or code == "ratelimited":
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return DeliveryError(
            f"Slack: {code}",
            transient=True,
            retry_after=float(retry_after) if retry_after else None,
            code="ratelimited",
        )
    if response.status_code >= 500:
        return DeliveryError(f"Slack: HTTP {response.status_code}", transient=True, code="http_5xx")
    # Slack's error codes are its documented, bounded set: they name the reason.
    return DeliveryError(f"Slack: {code}", transient=code not in PERMANENT, code=code)
