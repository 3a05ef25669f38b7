"""The door of POST /slack/events, and the answer to what gets through it broken.

Nothing of a request is parsed before its signature is checked on the raw bytes
(slack_sdk's SignatureVerifier; Bolt checks it again, which costs microseconds):
a forger learns nothing but 401. A signed body Bolt could not route is a 400.
Whatever a listener then cannot use (`payloads.Malformed`), or fails on, ends
here too: logged, and answered on purpose — the person who sent it is told, in
their language, when the payload says who they are — never a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import ClientError, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.slack import payloads
from bot.slack.desk import SlackDesk
from models.i18n import N_, _

log = logging.getLogger(__name__)

FAILED = N_("Sorry, something went wrong on our side. Please try again.")


def _refusal(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason, content_type="text/plain")


async def admit(
    request: web.Request, verifier: SignatureVerifier
) -> AsyncBoltRequest | web.Response:
    """The request for Bolt, or the refusal: 401 unless signed by Slack with our
    secret in the last five minutes; 400 if signed but not a payload Bolt can route."""
    raw = await request.read()
    try:
        signed = verifier.is_valid(
            body=raw,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
        )
    except ValueError:
        # A timestamp that is not a number, or a body that is not UTF-8: Slack
        # sends neither, and neither can be verified.
        signed = False
    if not signed:
        log.info("refused a Slack request without a valid signature")
        return _refusal(401, "invalid signature")
    text = raw.decode("utf-8")  # the verifier has decoded it already
    try:
        # Bolt parses the body once, here; what it parsed is what is checked.
        admitted = AsyncBoltRequest(
            body=text, query=request.query_string, headers=dict(request.headers)
        )
        routable(admitted.body)
        return admitted
    except UNREADABLE as error:
        log.warning("refused a signed Slack request Bolt could not read: %s", _short(error))
        return _refusal(400, "malformed payload")


# What Bolt raises on a payload whose fields have types Slack never sends: bad JSON
# and a failed `routable` are ValueErrors too. `routable` names what Bolt routes
# on; Bolt's context reads more (enterprise and thread fields, nested here and
# there), and a wrong type there ends as one of these when the request is built.
UNREADABLE = (ValueError, TypeError, AttributeError, LookupError)


def routable(payload: Any) -> None:
    """Raise (a ValidationError) unless the payload is a JSON object with the fields
    Bolt routes on in the types Slack sends (`Envelope`)."""
    Envelope.model_validate(payload)


# ------------------------------------------------------------------ envelope


class _Open(BaseModel):
    """An object whose other keys we leave alone."""

    model_config = ConfigDict(extra="allow", frozen=True)


class _Ref(_Open):
    id: str | None = None


_Named = str | _Ref | None


class _Item(_Open):
    channel: _Named = None


class _Event(_Open):
    type: str
    user: _Named = None
    channel: _Named = None
    item: _Item | None = None
    message: _Open | None = None
    previous_message: _Open | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    channel_type: str | None = None
    bot_id: str | None = None


class _Action(_Open):
    action_id: str


class _View(_Open):
    callback_id: str | None = None
    type: str | None = None
    team_id: str | None = None
    app_installed_team_id: str | None = None


class _Authorization(_Open):
    team_id: str | None = None
    user_id: str | None = None
    enterprise_id: str | None = None
    is_enterprise_install: bool | None = None


class Envelope(_Open):
    """The fields Bolt reads to route a payload and to build its context, in the
    types it expects: a payload that has them wrong would fail inside Bolt."""

    type: str | None = None
    command: str | None = None
    callback_id: str | None = None
    action_id: str | None = None
    team: _Named = None
    user: _Named = None
    channel: _Named = None
    enterprise: _Named = None
    team_id: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    enterprise_id: str | None = None
    is_enterprise_install: bool | str | None = None
    response_url: str | None = None
    response_urls: list[_Open] | None = None
    authorizations: list[_Authorization] | None = None
    event: _Event | None = None
    actions: list[_Action] | None = Field(default=None, min_length=1)
    view: _View | None = None


def _short(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return ", ".join(sorted({".".join(map(str, e["loc"])) or "body" for e in error.errors()}))
    return type(error).__name__  # Bolt's messages may quote the payload


def answer_failures(app: AsyncApp, desk: SlackDesk) -> None:
    """Bolt's last word on a listener that raised: what was malformed, or failed."""

    @app.error
    async def on_error(
        error: Exception,
        body: dict[str, Any],
        response: BoltResponse | None,
        client: AsyncWebClient | None,
    ) -> BoltResponse | None:
        if isinstance(error, payloads.Malformed):
            log.warning("refused a malformed Slack payload: %s", error)
            say = error.say
        else:
            log.error("a Slack listener failed", exc_info=error)
            say = FAILED
        user = payloads.sender(body)
        acknowledged = response is None
        if payloads.is_command(body) and not acknowledged:
            # The answer to a slash command is shown to whoever typed it.
            text = await _render(desk, client, user, say)
            return BoltResponse(
                status=200,
                body=json.dumps({"response_type": "ephemeral", "text": text}),
                headers={"content-type": "application/json"},
            )
        if user is None or client is None:
            # Nobody to tell: Slack shows its own "could not be completed".
            return None if acknowledged else BoltResponse(status=400, body="not processed")
        await _tell(client, user, payloads.place(body), await _render(desk, client, user, say))
        return None if acknowledged else BoltResponse(status=200, body="")


async def _render(
    desk: SlackDesk, client: AsyncWebClient | None, user: str | None, message: str
) -> str:
    def render() -> str:
        return "⚠️ " + _(message)

    if user is None or client is None:
        return desk.in_known_language(user, render)
    try:
        return await desk.in_language_of(client, user, render)
    except (SQLAlchemyError, SlackApiError, ClientError):
        return desk.in_known_language(user, render)  # the failure may be the database


async def _tell(client: AsyncWebClient, user: str, channel: str | None, text: str) -> None:
    """Only the sender sees it: beside what they did, or in their DM with the bot."""
    try:
        if channel is not None:
            try:
                await client.chat_postEphemeral(channel=channel, user=user, text=text)
                return
            except SlackApiError:
                pass  # not in that conversation (any more): their DM instead
        await client.chat_postMessage(channel=user, text=text)
    except (SlackApiError, ClientError) as failure:
        log.warning("could not tell %s about a refused payload: %s", user, failure)
