"""Slack as a delivery channel for the outbox: post, edit in place, thread, DM,
and answer quick-files at their response_url.

Each notice goes out with the bot token of the workspace it goes to
(bot/slack/workspaces.py): a team channel's (the catalog's slack_workspace), a
person's (where Slack last saw them), the digest channel's, the command's. Every
post names its notice in Slack message metadata, so a notice whose earlier attempt
may have reached Slack is found there instead of posted again (bot/slack/posting.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientConnectorError, ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.console.render import digest_lines
from bot.slack import answers, messages
from bot.slack.mrkdwn import escape
from bot.slack.posting import find_post, has_file_in_thread, post_once
from bot.slack.workspaces import SlackWorkspaces
from handlers.delivery import RATE_LIMITED, DeliveryError, PendingNotice, Recipient
from handlers.digest import insight_from_payload
from handlers.notices import NoticeKind
from handlers.sla import snapshot_time_left
from models.clock import Clock
from models.directory import Person
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

# (person id, Slack user id, workspace): a person found in Slack, to keep.
RememberSlackId = Callable[[int, str, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """Where a notice goes in Slack: the client with the workspace's bot token."""

    client: AsyncWebClient
    workspace: str | None


@dataclass
class SlackChannel:
    workspaces: SlackWorkspaces
    clock: Clock
    remember_slack_id: RememberSlackId
    default_timezone: str = "UTC"
    name: str = "slack"
    _dm_channels: dict[tuple[str | None, str], str] = field(default_factory=dict)
    _unknown_emails: set[tuple[str | None, str]] = field(default_factory=set)
    # Why the last `reaches` said no, by recipient (bot.slack.workspaces.why_not).
    _why: dict[str, str] = field(default_factory=dict)

    async def reaches(self, recipient: Recipient) -> bool:
        try:
            route = await self._route(recipient)
        except DeliveryError:
            # Slack could not say who they are (it is away): it may well reach them,
            # and the delivery, failing the same way, is retried, not dead-lettered.
            return True
        if isinstance(route, Route):
            self._why.pop(recipient.target, None)
            return True
        if route is None:
            self._why.pop(recipient.target, None)
        else:
            self._why[recipient.target] = route
        return False

    def unreachable_because(self, recipient: Recipient) -> str | None:
        return self._why.get(recipient.target)

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        try:
            route = await self._route(notice.recipient)
            if not isinstance(route, Route):
                # Uninstalled since `reaches` said yes: no token will do any more.
                raise DeliveryError(route or "not addressed in Slack", transient=False)
            if notice.kind == NoticeKind.COMMAND_ANSWER:
                return await self._answer(notice, route)
            if notice.kind == NoticeKind.DIGEST:
                return await self._digest(notice, route.client)
            if notice.recipient.team is not None:
                return await self._to_team(notice, route.client)
            return await self._to_person(notice, route)
        except SlackApiError as error:
            raise _delivery_error(error) from error
        except ClientConnectorError as error:
            # No connection was opened: nothing reached Slack.
            raise DeliveryError(
                f"Slack unreachable: {error!r}", transient=True, code="unreachable"
            ) from error
        except (ClientError, TimeoutError) as error:
            # Cut or timed out after the request went out: it may have been posted.
            raise DeliveryError(
                f"Slack unreachable: {error!r}", transient=True, code="unreachable", maybe_sent=True
            ) from error

    # -- which workspace, which token

    async def _route(self, recipient: Recipient) -> Route | str | None:
        """The route to the recipient; the reason there is none when Slack is where
        they are meant to be reached; None when Slack is not (no Slack address)."""
        if recipient.destination is not None:
            user = recipient.destination.get("slack_user")
            if user:  # a command's answer: the workspace it came from
                return await self._placed(
                    recipient.destination.get("slack_workspace"), f"the answer to {user}"
                )
            channel = recipient.destination.get("slack_channel")
            if not channel:
                return None
            return await self._placed(
                recipient.destination.get("slack_workspace"), f"the digest channel {channel}"
            )
        if recipient.team is not None:
            team = recipient.team
            if not team.slack_channel:
                return None
            return await self._placed(
                team.slack_workspace, f"channel {team.slack_channel} of team {team.key}"
            )
        person = recipient.person
        if person is None:
            return None
        if person.slack_user_id:
            return await self._person(person)
        if person.email:
            return await self._found_by_email(person)
        return None

    async def _placed(self, workspace: str | None, what: str) -> Route | str:
        if workspace is None and self.workspaces.oauth:
            installed = await self.workspaces.installed()
            if len(installed) > 1:
                return (
                    f"several Slack workspaces are installed ({', '.join(installed)}): "
                    f"name the one of {what} as slack_workspace in the catalog"
                )
            workspace = installed[0] if installed else None
        client = await self.workspaces.client(workspace, delivering=True)
        if client is None:
            return await self.workspaces.why_not(workspace)
        return Route(client, workspace)

    async def _person(self, person: Person) -> Route | str:
        assert person.slack_user_id
        workspace = person.slack_workspace
        if workspace is None and self.workspaces.oauth:
            installed = await self.workspaces.installed()
            if len(installed) > 1:
                # Named by id in the catalog, never seen in Slack: ask each workspace.
                found = await self._workspace_of(person.slack_user_id, installed)
                if found is None:
                    return (
                        f"{person.slack_user_id} is a member of none of the installed "
                        f"Slack workspaces ({', '.join(installed)})"
                    )
                await self._remember(person, person.slack_user_id, found)
                workspace = found
        return await self._placed(workspace, f"{person.slack_user_id}'s DM")

    async def _workspace_of(self, user_id: str, workspaces: list[str]) -> str | None:
        for workspace in workspaces:
            client = await self.workspaces.client(workspace)
            if client is None:
                continue
            try:
                await client.users_info(user=user_id)
            except SlackApiError as error:
                _unless_away(error)
                if error.response.get("error") != "user_not_found":
                    log.warning("users.info in %s: %s", workspace, error.response.get("error"))
                continue
            except (ClientError, TimeoutError) as error:
                raise _unreachable(error) from error
            return workspace
        return None

    async def _found_by_email(self, person: Person) -> Route | None:
        """People the catalog names by email: found in Slack once, then remembered."""
        assert person.email
        if person.slack_workspace or not self.workspaces.oauth:
            candidates: list[str | None] = [person.slack_workspace]
        else:
            candidates = [*await self.workspaces.installed()]
        for workspace in candidates:
            if (workspace, person.email) in self._unknown_emails:
                continue
            client = await self.workspaces.client(workspace)
            if client is None:
                continue
            try:
                found = await client.users_lookupByEmail(email=person.email)
            except SlackApiError as error:
                _unless_away(error)
                if error.response.get("error") == "users_not_found":
                    self._unknown_emails.add((workspace, person.email))
                else:
                    log.warning("users.lookupByEmail: %s", error.response.get("error"))
                continue
            except (ClientError, TimeoutError) as error:
                raise _unreachable(error) from error
            user = found["user"]
            # Slack names the workspace, also in single-workspace mode.
            where = str(user.get("team_id") or workspace or "") or None
            await self._remember(person, str(user["id"]), where)
            delivering = await self.workspaces.client(workspace, delivering=True)
            return Route(delivering or client, workspace)
        return None

    async def _remember(self, person: Person, user_id: str, workspace: str | None) -> None:
        person.slack_user_id = person.slack_user_id or user_id
        if workspace:
            person.slack_workspace = workspace
        await self.remember_slack_id(person.id, user_id, workspace)

    # -- what is said

    async def _to_team(self, notice: PendingNotice, client: AsyncWebClient) -> dict[str, Any]:
        team = notice.recipient.team
        assert team is not None and team.slack_channel
        calendar = calendar_from_spec(team.calendar.spec)
        with reader(team.language, calendar.timezone.key):
            if notice.kind == NoticeKind.TEAM_CARD:
                now = self.clock.now()
                time_left = snapshot_time_left(notice.payload["request"], calendar, now)
                text, blocks = messages.team_card(notice.payload["request"], time_left, now)
                card = notice.refs.get("team_card")
                if card:
                    return await self._update(client, card, text, blocks)
                return await post_once(client, notice, team.slack_channel, text, blocks)
            # Thread lines (replies, notes, ratings, warnings) go under the card.
            card = notice.refs.get("team_card")
            text = messages.thread_line(notice.payload, self.clock.now())
            thread_ts = str(card["message"]) if card else None
            channel = str(card["conversation"]) if card else team.slack_channel
            return await post_once(client, notice, channel, text, None, thread_ts=thread_ts)

    async def _digest(self, notice: PendingNotice, client: AsyncWebClient) -> dict[str, Any]:
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
        # Imported here: the charts bring matplotlib (~55 MB), which a desk that
        # has not drawn a chart yet need not hold (idle RSS of `serve`, issue 14).
        from bot.reports import charts

        figures = insight_from_payload(notice.payload["insight"])
        with reader(language, timezone):
            text = "\n".join(digest_lines(notice.payload, escape))
            picture = (
                charts.team_card_chart(figures.teams[0], figures.weekly)
                if notice.payload["scope"] == "team" and figures.teams
                else charts.overview(figures)
            )
        posted = await post_once(client, notice, channel, text, None)
        await _chart_in_thread(
            client,
            notice,
            posted,
            picture,
            filename=f"week-{notice.payload['week']}.png",
            title=f"{notice.payload['week']}",
        )
        return posted

    async def _to_person(self, notice: PendingNotice, route: Route) -> dict[str, Any]:
        person = notice.recipient.person
        assert person is not None and person.slack_user_id
        with reader(person.language, person.timezone or self.default_timezone):
            if notice.kind == NoticeKind.RESOLVED:
                text, blocks = messages.survey(notice.payload)
            elif notice.kind == NoticeKind.SURVEY_ANSWERED:
                text, blocks = messages.survey_answered(notice.payload)
                survey = notice.refs.get("survey")
                if survey:
                    return await self._update(route.client, survey, text, blocks)
            else:
                text, blocks = messages.dm(notice.kind, notice.payload, self.clock.now())
        channel = await self._dm_channel(route, person.slack_user_id)
        return await post_once(route.client, notice, channel, text, blocks)

    async def _answer(self, notice: PendingNotice, route: Route) -> dict[str, Any]:
        """The answer to what a person did: a quick-file's at its response_url while
        that lives, else in the person's DM with the bot (with its blocks, and its
        chart in the thread: `/request stats`), or privately in a group DM."""
        destination = notice.recipient.destination or {}
        text = str(notice.payload["text"])
        blocks = notice.payload.get("blocks")
        url = destination.get("slack_response_url")
        if url and answers.response_url_fresh(notice.payload.get("received_at"), self.clock.now()):
            took = await answers.at_response_url(url, text, self.workspaces.delivery_http())
            if took is answers.AtResponseUrl.TAKEN:
                return {"via": "response_url"}
            if took is answers.AtResponseUrl.SPENT and notice.maybe_sent:
                # Earlier attempts may have reached Slack: the answer is in the DM
                # (an earlier fallback), or else it is what spent the URL (each
                # post replaced the last: shown once). Not said a second time.
                dm = await self._dm_channel(route, destination["slack_user"])
                earlier = await find_post(route.client, notice, dm, None)
                if earlier is not None:
                    return {"conversation": dm, "message": earlier}
                return {"via": "response_url"}
        group = destination.get("slack_ephemeral_in")
        if group:
            # Only the one who asked sees it. An ephemeral message cannot be looked
            # up afterwards: after an attempt that may have reached Slack it is shown
            # again (to that one person, until they reload): at least once.
            await route.client.chat_postEphemeral(
                channel=group, user=destination["slack_user"], text=text, blocks=blocks
            )
            return {"via": "ephemeral", "conversation": group}
        channel = await self._dm_channel(route, destination["slack_user"])
        posted = await post_once(route.client, notice, channel, text, blocks)
        chart = notice.payload.get("chart")
        if chart:
            from bot.reports import charts  # matplotlib: see _digest

            figures = insight_from_payload(chart["insight"])
            with reader(chart.get("language"), chart.get("timezone") or self.default_timezone):
                picture = (
                    charts.team_card_chart(figures.teams[0], figures.weekly)
                    if len(figures.teams) == 1
                    else charts.attainment_by_week(figures)
                )
            await _chart_in_thread(
                route.client, notice, posted, picture, filename="stats.png", title="stats.png"
            )
        return posted

    async def _dm_channel(self, route: Route, user_id: str) -> str:
        key = (route.workspace, user_id)
        if key not in self._dm_channels:
            opened = await route.client.conversations_open(users=user_id)
            self._dm_channels[key] = str(opened["channel"]["id"])
        return self._dm_channels[key]

    async def _update(
        self, client: AsyncWebClient, ref: dict[str, Any], text: str, blocks: list[Block]
    ) -> dict[str, Any]:
        updated = await client.chat_update(
            channel=str(ref["conversation"]), ts=str(ref["message"]), text=text, blocks=blocks
        )
        return {"conversation": str(updated["channel"]), "message": str(updated["ts"])}


async def _chart_in_thread(
    client: AsyncWebClient,
    notice: PendingNotice,
    posted: dict[str, Any],
    picture: bytes,
    *,
    filename: str,
    title: str,
) -> None:
    """A notice's chart, shared in the thread of its posted text (a digest's, the
    answer to `/request stats`)."""
    conversation, ts = posted["conversation"], posted["message"]
    try:
        # Files carry no metadata: a chart shared before is recognised in the thread.
        if notice.maybe_sent and await has_file_in_thread(client, conversation, ts):
            return
        await client.files_upload_v2(
            channel=conversation, thread_ts=ts, content=picture, filename=filename, title=title
        )
    except SlackApiError as error:
        # The text is on Slack already: the next attempt finds it by its metadata
        # and adds only the chart.
        raise _delivery_error(error, maybe_sent=True) from error
    except (ClientError, TimeoutError) as error:
        raise DeliveryError(
            f"Slack unreachable: {error!r}", transient=True, code="unreachable", maybe_sent=True
        ) from error


def _unless_away(error: SlackApiError) -> None:
    """A lookup Slack could not answer (429, 5xx) says nothing about the person:
    the notice waits for Slack instead of becoming a dead letter."""
    if error.response.status_code == 429 or error.response.status_code >= 500:
        raise _delivery_error(error) from error


def _unreachable(error: BaseException) -> DeliveryError:
    return DeliveryError(f"Slack unreachable: {error!r}", transient=True, code="unreachable")


# 5xx answers after which Slack may have done what was asked (an internal error, a
# gateway that gave up waiting): the next attempt looks before it posts. A 503 and
# a 429 say the request was not taken on.
MAYBE_DONE_STATUS = {500, 502, 504}


def _delivery_error(error: SlackApiError, *, maybe_sent: bool = False) -> DeliveryError:
    response = error.response
    code = str(response.get("error") or f"HTTP {response.status_code}")
    if response.status_code == 429 or code == "ratelimited":
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return DeliveryError(
            f"Slack: {code}",
            transient=True,
            retry_after=float(retry_after) if retry_after else None,
            code=RATE_LIMITED,
            maybe_sent=maybe_sent,
        )
    if response.status_code >= 500:
        return DeliveryError(
            f"Slack: HTTP {response.status_code}",
            transient=True,
            code="http_5xx",
            maybe_sent=maybe_sent or response.status_code in MAYBE_DONE_STATUS,
        )
    # Slack's error codes are its documented, bounded set: they name the reason.
    return DeliveryError(
        f"Slack: {code}", transient=code not in PERMANENT, code=code, maybe_sent=maybe_sent
    )
