"""The answer to what a person did, as the outbox delivers it (NoticeKind.COMMAND_ANSWER).

A quick-file's answer:

It goes to the command's response_url, replacing the "Filing…" acknowledgement
(ephemeral, `replace_original`: an answer posted there twice still shows once). A
response_url takes 5 posts within 30 minutes; when it is spent, expired, or
refuses the answer, the answer goes to the person's DM with the bot instead,
posted once like every notice (bot.slack.posting). While Slack is unavailable
(429, 5xx, the network) the outbox keeps the answer and tries again later.

Answers without a response_url (the form's "Filed …", the reply to a DM, the
figures of `/request stats`) go to the person's DM with the bot, the same way
(`in_dm`); a group DM's answer only the asker sees (`privately_in`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import Enum

from aiohttp import ClientConnectorError, ClientError, ClientSession
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.retries import delivery_retry_handlers, retry_handlers
from bot.slack.workspaces import current_workspace
from handlers import inbox
from handlers.delivery import RATE_LIMITED, DeliveryError

log = logging.getLogger(__name__)

# Slack keeps a response_url for 30 minutes; one older than this is not tried (an
# answer sent at the last second could arrive after it expired).
RESPONSE_URL_TRUSTED_FOR = timedelta(minutes=29)


def destination(command: inbox.Accepted) -> dict[str, str]:
    """Where a command's answer goes: its response_url, else the person's DM."""
    where = {"slack_response_url": command.reply_address, "slack_user": command.user_id}
    if command.workspace:
        where["slack_workspace"] = command.workspace
    return where


def in_dm(user_id: str) -> dict[str, str]:
    """An answer for the person acting now, in their DM with the bot (in the
    workspace they act in)."""
    where = {"slack_user": user_id}
    workspace = current_workspace.get()
    if workspace:
        where["slack_workspace"] = workspace
    return where


def privately_in(conversation: str, user_id: str) -> dict[str, str]:
    """An answer in a conversation that only the person acting sees (ephemeral)."""
    return {**in_dm(user_id), "slack_ephemeral_in": conversation}


def response_url_fresh(received_at: str | None, now: datetime) -> bool:
    if not received_at:
        return False
    return now - datetime.fromisoformat(received_at) < RESPONSE_URL_TRUSTED_FOR


class AtResponseUrl(Enum):
    """What a response_url did with an answer."""

    TAKEN = "taken"
    # Used its 5 posts: by this answer's own earlier attempts whose replies were
    # lost (a command's response_url carries nothing but its answer), or the
    # answer went by DM before. Either way it is somewhere already.
    SPENT = "spent"
    REFUSED = "refused"  # expired, or it refuses this answer: the DM carries it


async def at_response_url(url: str, text: str, http: ClientSession) -> AtResponseUrl:
    """Answer at the response_url (on the outbox's connections, `http`): whether it
    took the answer; DeliveryError while Slack is away."""
    webhook = AsyncWebhookClient(url, session=http, retry_handlers=delivery_retry_handlers())
    try:
        response = await webhook.send(text=text, response_type="ephemeral", replace_original=True)
    except ClientConnectorError as error:
        raise DeliveryError(
            f"Slack unreachable: {error!r}", transient=True, code="unreachable"
        ) from error
    except (ClientError, TimeoutError) as error:
        # It may have arrived; sent again it replaces itself, so nothing is doubled.
        raise DeliveryError(
            f"Slack unreachable: {error!r}", transient=True, code="unreachable", maybe_sent=True
        ) from error
    if response.status_code == 200:
        return AtResponseUrl.TAKEN
    if response.status_code == 429:
        retry_after = {k.lower(): v for k, v in (response.headers or {}).items()}.get("retry-after")
        raise DeliveryError(
            "Slack: ratelimited (response_url)",
            transient=True,
            retry_after=_seconds(retry_after),
            code=RATE_LIMITED,
        )
    if response.status_code >= 500:
        raise DeliveryError(
            f"Slack: HTTP {response.status_code} (response_url)", transient=True, code="http_5xx"
        )
    log.info("response_url answered %s %s", response.status_code, response.body)
    if response.status_code == 404 and response.body == "used_url":
        return AtResponseUrl.SPENT
    return AtResponseUrl.REFUSED


async def tell_directly(url: str, text: str) -> None:
    """Say something at a response_url at once, outside the outbox: for a command
    that could not even be stored (the database failed), so there is no row to
    queue an answer in. Best effort: a failure is logged."""
    webhook = AsyncWebhookClient(url, retry_handlers=retry_handlers())
    try:
        response = await webhook.send(text=text, response_type="ephemeral", replace_original=True)
    except (ClientError, TimeoutError) as error:
        log.warning("could not answer at a response_url: %r", error)
        return
    if response.status_code != 200:
        log.warning("a response_url answered %s %s", response.status_code, response.body)


def _seconds(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None else None
    except ValueError:
        return None
