"""A local fake of the Slack Web API for tests.

``FakeSlack`` is an aiohttp server on 127.0.0.1 that the product's
``AsyncWebClient(base_url=fake.url, token="xoxb-test")`` (and Bolt's ``AsyncApp``
built on such a client) talks to. It records every call, keeps a small model of
the workspace (users, channels, messages, views, files) and answers like Slack:

* success: HTTP 200 ``{"ok": true, ...}``;
* errors: HTTP 200 ``{"ok": false, "error": "...", ...}``; argument and Block Kit
  problems also carry ``response_metadata.messages`` in Slack's
  ``"[ERROR] <problem> [json-pointer:/blocks/0/text/text]"`` form;
* injected failures (``fail_next``): 429 with ``Retry-After``, 5xx, or an error.

It accepts what slack_sdk sends: arguments in the query string (``params=``),
form-encoded or multipart bodies (``data=``/``files=``) and JSON bodies
(``json=``); the token in the ``Authorization: Bearer`` header or, for form
bodies, as a ``token`` field. JSON-encoded string arguments (``blocks``,
``view``, ``attachments``, ...) are decoded before they are recorded.

Typical use::

    async with FakeSlack() as slack:
        slack.add_channel("C1", "general")
        slack.add_user("U1", email="ana@example.com", tz="Europe/Lisbon")
        client = AsyncWebClient(base_url=slack.url, token=slack.token)
        ...  # run the product against ``client``
        assert slack.calls_to("chat.postMessage")[0].args["channel"] == "C1"
        assert slack.messages["C1"][0].text == "..."

Beyond the documented API the fake also keeps ``ephemerals`` (per channel),
``files`` (uploads by id), ``users``/``channels`` and ``warnings`` (calls it
accepted leniently, e.g. a ``thread_ts`` that is no message); ``add_message``
seeds a message from a person; ``fail_next(..., disconnect=True)`` drops the
connection before the call does anything, ``fail_next(..., lose_answer=True)``
after it took effect (a message is posted, its answer never arrives: a cut after
Slack accepted the call). ``answer_delay[method] = seconds`` makes Slack slow to
answer: the call takes effect at once (a message is posted) and its answer comes
back only after that long, the window in which a process can die with a post on
Slack that it never heard about. ``blackout(mode, seconds)`` makes Slack
unavailable for a while (``OutageModes``: 503, 429 with ``Retry-After``, slow
answers, cut connections, lost answers) until the window has passed
(``end_blackout()`` ends it early); ``in_outage`` says whether one is going on.

Message timestamps follow the wall clock (``wall``, default ``time.time``), as
Slack's do, unique and increasing: ``oldest``/``latest`` windows of
conversations.history and .replies mean what they mean on Slack.

Message metadata (``metadata={"event_type": ..., "event_payload": {...}}``) is
checked as Slack checks it (``invalid_metadata_format`` for what is not a JSON
object, ``invalid_metadata_schema`` for an event_type that is not an alphanumeric
string with underscores or an event_payload that is not an object), kept on the
message, and returned by conversations.history and .replies only when asked with
``include_all_metadata``, as Slack does.

Socket Mode: ``apps.connections.open`` (with the app-level token ``app_token``,
as Slack requires) returns a ``ws://`` URL on the fake, good for one connection; a
client that connects gets Slack's ``hello``. ``socket_send`` pushes an envelope (or
any frame) to the newest connection, as Slack pushes each envelope to one of the
app's connections; ``socket_acks`` keeps what they sent back, in order.
``socket_disconnect(reason)`` sends Slack's ``disconnect`` message and closes the
connection itself a while later unless the client has; ``socket_cut()`` ends every
connection abruptly (no close frame), and ``socket_send(..., then_cut=True)`` ends
the connection right after the envelope, so its acknowledgement is lost. An
envelope not acknowledged when its connection ends is sent again on the next one,
with ``retry_attempt`` counting up and ``retry_reason`` "timeout" (Slack documents
retries for Events API envelopes; the fake retries every kind, which is harsher).

OAuth: ``approve_install(authorize_url)`` is Slack's consent page saying yes (it
returns the code Slack would hand the redirect URL); ``oauth.v2.access`` then
exchanges that code once, within ten minutes, for the app's credentials (HTTP Basic,
as slack_sdk sends them, or form fields), answering with that workspace's bot token
(``token`` for the first workspace) and granting the scopes the install URL asked for.

Scopes: each bot token holds exactly the scopes it was granted: those of
``deploy/slack-manifest.yml`` for the token a workspace starts with (what "Install
App" on the app's page grants), those of the install URL after an OAuth install. A
method whose scope the token lacks answers ``missing_scope`` with ``needed`` and
``provided``, as Slack does (``METHOD_SCOPES``: Slack's documented scope per method;
where it depends on the conversation, public channel, private channel, DM or group
DM, the one for the conversation addressed). Every answer carries the token's
scopes in ``x-oauth-scopes``; ``users.info`` leaves out the email without
``users:read.email``.

Workspaces: the fake starts with one (``team_id``, ``token``); ``add_workspace``
adds more, each with its own bot user and, once installed, its own bot token.
Users, channels and files belong to one workspace: a call with one workspace's
token about another's channel answers ``channel_not_found`` (``user_not_found``
for a user), as Slack does. ``uninstall(team_id)`` revokes that workspace's tokens
(``token_revoked``); installing again issues a new one.

The Block Kit checks are written independently of slack_sdk's own model
validation on purpose: the product builds blocks with ``slack_sdk.models`` and
this fake is the second, independent check of Slack's documented limits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import yaml
from aiohttp import WSMsgType, web

from tests.fakes.polling import wait_or_explain

__all__ = [
    "Call",
    "Channel",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "UploadedFile",
    "User",
    "View",
    "Workspace",
    "manifest",
]

PERMALINK_BASE = "https://fake.slack.test"
APP_ID = "A0APP"

# Arguments slack_sdk (or a caller using data=/params=) may send as JSON strings.
_JSON_STRING_ARGS = ("blocks", "view", "attachments", "user_auth_blocks", "metadata")

# Methods Slack documents as accepting only form/query arguments: a JSON body's
# arguments are ignored by Slack, so they are ignored here too.
_FORM_ONLY_METHODS = frozenset(
    {
        "users.info",
        "users.lookupByEmail",
        "conversations.info",
        "conversations.history",
        "conversations.replies",
        "chat.getPermalink",
    }
)

# Methods that take the app-level token (xapp-…) and refuse a bot token, and back.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

MESSAGE_TEXT_LIMIT = 40_000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
MODAL_STACK_LIMIT = 3
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_USES = 5
# Slack's metadata event types: alphanumeric with underscores ("task_created").
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,255}")
OAUTH_CODE_TTL = 10 * 60.0  # Slack's OAuth codes expire after ten minutes

# Methods called with the app's client credentials, not with a token.
_TOKENLESS_METHODS = frozenset({"oauth.v2.access"})

# The one source of the scopes a workspace grants and the events Slack sends.
MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yml"


def manifest(path: Path = MANIFEST) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def manifest_bot_scopes(path: Path = MANIFEST) -> list[str]:
    return list(manifest(path)["oauth_config"]["scopes"]["bot"])


def manifest_bot_events(path: Path = MANIFEST) -> list[str]:
    return list(manifest(path)["settings"]["event_subscriptions"]["bot_events"])


# Slack's documented scope for each method the fake implements (docs.slack.dev,
# "Required scopes", bot tokens). A tuple: any one of them will do (empty: none is
# needed). A dict: the scope depends on the conversation addressed, by its kind
# (public channel, private channel, DM, group DM), and the method checks it once
# it knows the conversation.
MethodScopes = tuple[str, ...] | dict[str, str]
METHOD_SCOPES: dict[str, MethodScopes] = {
    "auth.test": (),
    "apps.connections.open": ("connections:write",),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.getPermalink": (),
    "conversations.open": {
        "channel": "channels:manage",
        "group": "groups:write",
        "im": "im:write",
        "mpim": "mpim:write",
    },
    "conversations.info": {
        "channel": "channels:read",
        "group": "groups:read",
        "im": "im:read",
        "mpim": "mpim:read",
    },
    "conversations.history": {
        "channel": "channels:history",
        "group": "groups:history",
        "im": "im:history",
        "mpim": "mpim:history",
    },
    "conversations.replies": {
        "channel": "channels:history",
        "group": "groups:history",
        "im": "im:history",
        "mpim": "mpim:history",
    },
    "views.open": (),
    "views.push": (),
    "views.update": (),
    "views.publish": (),
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "oauth.v2.access": (),
}


# --------------------------------------------------------------------------- records


@dataclass
class Call:
    """One Web API call as it arrived. Only ``method`` and ``args`` take part in ``==``."""

    method: str
    args: dict[str, Any]
    http_method: str = field(default="POST", compare=False)
    content_type: str = field(default="", compare=False)
    token: str | None = field(default=None, compare=False, repr=False)
    # The workspace the token belongs to (None: no token, or one Slack does not know).
    workspace: str | None = field(default=None, compare=False, repr=False)
    at: float = field(default=0.0, compare=False, repr=False)  # time.monotonic() on arrival
    status: int = field(default=200, compare=False, repr=False)
    response: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass
class Message:
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    user: str = "UBOT"
    edited: int = 0
    deleted: bool = False
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Ephemeral:
    """A chat.postEphemeral message: only ``user`` sees it, Slack does not keep it."""

    message_ts: str
    channel: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None


@dataclass
class View:
    id: str
    user: str
    type: str
    view: dict[str, Any]
    hash: str
    external_id: str | None = None
    root_view_id: str | None = None
    previous_view_id: str | None = None


@dataclass
class User:
    id: str
    email: str | None = None
    name: str = ""
    real_name: str = ""
    tz: str = "Europe/Berlin"
    locale: str = "en-US"
    is_bot: bool = False
    team: str = "T0TEAM"


@dataclass
class Channel:
    id: str
    name: str = ""
    is_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    members: set[str] | None = None  # None: anybody may see ephemeral messages here
    im_user: str | None = None  # the other user of a DM channel
    mpim_users: list[str] | None = None
    team: str = "T0TEAM"

    @property
    def is_im(self) -> bool:
        return self.im_user is not None

    @property
    def kind(self) -> str:
        """What Slack's scopes distinguish: channel, group (private), im, mpim."""
        if self.is_im:
            return "im"
        if self.mpim_users is not None:
            return "mpim"
        return "group" if self.is_private else "channel"


@dataclass
class Workspace:
    """A Slack workspace (team) with the app's bot user in it."""

    team_id: str
    name: str
    bot_user_id: str
    bot_id: str
    token: str
    scopes: frozenset[str]
    # False before an install and after an uninstall: the token is refused.
    installed: bool = True
    revoked: set[str] = field(default_factory=set)


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    title: str | None = None
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None  # None until the bytes are POSTed to the upload URL
    completed: bool = False
    channel_id: str | None = None
    channels: list[str] = field(default_factory=list)
    thread_ts: str | None = None
    initial_comment: str | None = None
    team: str = "T0TEAM"


@dataclass
class _Trigger:
    user: str
    issued_at: float
    used: bool = False


@dataclass
class _Failure:
    error: str | None
    status: int
    retry_after: int | None
    disconnect: bool
    remaining: int
    # The call takes effect, then the connection drops without an answer.
    lose_answer: bool = False


@dataclass(eq=False)
class _Connection:
    """One Socket Mode connection, and the envelopes it has not acknowledged yet."""

    socket: web.WebSocketResponse
    request: web.Request
    unacked: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Going down: whatever it sends now is lost on the way.
    cut: bool = False


@dataclass
class _Grant:
    """An approved install, waiting for its code to be exchanged (oauth.v2.access)."""

    installer: str
    team: str
    scopes: list[str]
    user_scopes: list[str]
    redirect_uri: str | None
    issued_at: float
    used: bool = False


class SlackError(Exception):
    """Raised inside a method handler; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, messages: Iterable[str] = (), **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def _problem(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def _invalid_arguments(message: str, pointer: str) -> SlackError:
    return SlackError("invalid_arguments", [_problem(message, pointer)])


# --------------------------------------------------------------------------- Block Kit

_TEXT_TYPES = ("plain_text", "mrkdwn")

_SELECT_PLACEHOLDER_TYPES = frozenset(
    {
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
    }
)
_TEXT_INPUTS = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input"}
)
_PICKERS = frozenset({"datepicker", "timepicker", "datetimepicker"})
_INTERACTIVE = (
    _SELECT_PLACEHOLDER_TYPES
    | _TEXT_INPUTS
    | _PICKERS
    | {
        "button",
        "checkboxes",
        "radio_buttons",
        "overflow",
        "file_input",
        "workflow_button",
        "feedback_buttons",
        "icon_button",
    }
)
_KNOWN_ELEMENTS = _INTERACTIVE | {"image"}

_SECTION_ACCESSORIES = (
    _SELECT_PLACEHOLDER_TYPES
    | {"button", "checkboxes", "datepicker", "timepicker", "image", "overflow", "radio_buttons"}
    | {"workflow_button"}
)
_ACTIONS_ELEMENTS = (
    _SELECT_PLACEHOLDER_TYPES
    | _PICKERS
    | {"button", "checkboxes", "overflow", "radio_buttons", "workflow_button", "rich_text_input"}
)
_CONTEXT_ACTIONS_ELEMENTS = frozenset({"feedback_buttons", "icon_button"})
_INPUT_ELEMENTS = (
    _SELECT_PLACEHOLDER_TYPES | _TEXT_INPUTS | _PICKERS | {"checkboxes", "radio_buttons"}
) | {"file_input"}

# Block types slack_sdk knows; the ones without a checker below are only checked
# for their block_id.
_KNOWN_BLOCKS = frozenset(
    {
        "section",
        "header",
        "actions",
        "context",
        "context_actions",
        "divider",
        "image",
        "input",
        "rich_text",
        "markdown",
        "file",
        "video",
        "call",
        "table",
        "task_card",
        "plan",
        "alert",
        "card",
        "container",
        "carousel",
        "auth_provider",
    }
)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}$")


class BlockKitValidator:
    """Independent checks of Slack's documented Block Kit limits.

    ``surface`` is ``"message"``, ``"modal"`` or ``"home"``. Problems are
    collected in ``problems`` as Slack-style ``[ERROR] ... [json-pointer:...]``
    strings. ``unique_action_ids`` makes action_id unique in the whole
    surface (the default); with False it only has to be unique in its block.
    """

    def __init__(self, surface: str, *, unique_action_ids: bool = True) -> None:
        self.surface = surface
        self.unique_action_ids = unique_action_ids
        self.problems: list[str] = []
        self._block_ids: set[str] = set()
        self._action_ids: set[str] = set()
        self.has_input_block = False

    def add(self, message: str, pointer: str) -> None:
        self.problems.append(_problem(message, pointer))

    # -- primitives

    def string(
        self,
        value: Any,
        pointer: str,
        *,
        max_len: int | None = None,
        min_len: int = 0,
        required: bool = False,
        name: str = "",
    ) -> bool:
        if value is None:
            if required:
                self.add(f"missing required field: {name or pointer.rsplit('/', 1)[-1]}", pointer)
            return False
        if not isinstance(value, str):
            self.add("must be a string", pointer)
            return False
        if len(value) < min_len:
            self.add(f"must be more than {min_len - 1} characters", pointer)
            return False
        if max_len is not None and len(value) > max_len:
            self.add(f"must be less than {max_len + 1} characters", pointer)
            return False
        return True

    def text(
        self,
        obj: Any,
        pointer: str,
        *,
        plain: bool = False,
        max_len: int | None = None,
        required: bool = True,
        what: str = "text",
    ) -> None:
        if obj is None:
            if required:
                parent, _, name = pointer.rpartition("/")
                self.add(f"missing required field: {name}", parent or "/")
            return
        if not isinstance(obj, dict):
            self.add("must provide a text object", pointer)
            return
        kind = obj.get("type")
        if kind not in _TEXT_TYPES:
            self.add(f"{what} type must be plain_text or mrkdwn, got {kind!r}", f"{pointer}/type")
        elif plain and kind != "plain_text":
            self.add(f"{what} must be a plain_text text object, got {kind}", f"{pointer}/type")
        if kind == "mrkdwn" and "emoji" in obj:
            self.add("emoji is only allowed on plain_text", f"{pointer}/emoji")
        if kind == "plain_text" and "verbatim" in obj:
            self.add("verbatim is only allowed on mrkdwn", f"{pointer}/verbatim")
        self.string(obj.get("text"), f"{pointer}/text", max_len=max_len, min_len=1, required=True)

    def block_id(self, value: Any, pointer: str) -> None:
        if value is None:
            return
        if self.string(value, pointer, max_len=255, min_len=1):
            if value in self._block_ids:
                self.add(f"duplicate block_id: {value}", pointer)
            self._block_ids.add(value)

    def action_id(self, value: Any, pointer: str, seen_in_block: set[str]) -> None:
        if value is None:
            return
        if not self.string(value, pointer, max_len=255, min_len=1):
            return
        seen = self._action_ids if self.unique_action_ids else seen_in_block
        if value in seen:
            self.add(f"duplicate action_id: {value}", pointer)
        seen.add(value)

    def array(self, value: Any, pointer: str, *, min_items: int = 0, max_items: int) -> list[Any]:
        if not isinstance(value, list):
            self.add("must be an array", pointer)
            return []
        if len(value) < min_items:
            self.add(f"must have at least {min_items} item(s)", pointer)
        if len(value) > max_items:
            self.add(f"no more than {max_items} items allowed", pointer)
        return value

    # -- blocks

    def blocks(self, blocks: Any, pointer: str) -> None:
        limit = MESSAGE_BLOCK_LIMIT if self.surface == "message" else VIEW_BLOCK_LIMIT
        for index, block in enumerate(self.array(blocks, pointer, max_items=limit)):
            self.block(block, f"{pointer}/{index}")

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.add("must provide an object", pointer)
            return
        kind = block.get("type")
        if kind not in _KNOWN_BLOCKS:
            self.add(f"unsupported block type: {kind!r}", f"{pointer}/type")
            return
        self.block_id(block.get("block_id"), f"{pointer}/block_id")
        checker = getattr(self, f"_block_{kind}", None)
        if checker is not None:
            checker(block, pointer)

    def _block_section(self, block: dict[str, Any], pointer: str) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            self.add("must provide either text or fields", pointer)
        if text is not None:
            self.text(text, f"{pointer}/text", max_len=3000)
        if fields is not None:
            for i, item in enumerate(self.array(fields, f"{pointer}/fields", max_items=10)):
                self.text(item, f"{pointer}/fields/{i}", max_len=2000, what="field")
        if block.get("accessory") is not None:
            self.element(
                block["accessory"], f"{pointer}/accessory", _SECTION_ACCESSORIES, "section", set()
            )

    def _block_header(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", plain=True, max_len=150, what="header text")

    def _block_actions(self, block: dict[str, Any], pointer: str) -> None:
        seen: set[str] = set()
        elements = self.array(
            block.get("elements"), f"{pointer}/elements", min_items=1, max_items=25
        )
        for i, element in enumerate(elements):
            self.element(element, f"{pointer}/elements/{i}", _ACTIONS_ELEMENTS, "actions", seen)

    def _block_context_actions(self, block: dict[str, Any], pointer: str) -> None:
        seen: set[str] = set()
        elements = self.array(
            block.get("elements"), f"{pointer}/elements", min_items=1, max_items=5
        )
        for i, element in enumerate(elements):
            self.element(
                element,
                f"{pointer}/elements/{i}",
                _CONTEXT_ACTIONS_ELEMENTS,
                "context_actions",
                seen,
            )

    def _block_context(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(
            block.get("elements"), f"{pointer}/elements", min_items=1, max_items=10
        )
        for i, element in enumerate(elements):
            where = f"{pointer}/elements/{i}"
            if isinstance(element, dict) and element.get("type") in _TEXT_TYPES:
                self.text(element, where, max_len=3000)
            else:
                self.element(element, where, frozenset({"image"}), "context", set())

    def _block_image(self, block: dict[str, Any], pointer: str) -> None:
        self._image_source(block, pointer)
        self.string(block.get("alt_text"), f"{pointer}/alt_text", max_len=2000, required=True)
        if block.get("title") is not None:
            self.text(block["title"], f"{pointer}/title", plain=True, max_len=2000, what="title")

    def _block_input(self, block: dict[str, Any], pointer: str) -> None:
        self.has_input_block = True
        self.text(block.get("label"), f"{pointer}/label", plain=True, max_len=2000, what="label")
        if block.get("hint") is not None:
            self.text(block["hint"], f"{pointer}/hint", plain=True, max_len=2000, what="hint")
        if block.get("element") is None:
            self.add("missing required field: element", pointer)
        else:
            self.element(block["element"], f"{pointer}/element", _INPUT_ELEMENTS, "input", set())
        for flag in ("optional", "dispatch_action"):
            if flag in block and not isinstance(block[flag], bool):
                self.add("must be a boolean", f"{pointer}/{flag}")

    def _block_rich_text(self, block: dict[str, Any], pointer: str) -> None:
        self.array(block.get("elements"), f"{pointer}/elements", max_items=1000)

    def _block_markdown(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("text"), f"{pointer}/text", max_len=12_000, min_len=1, required=True)

    def _block_file(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("external_id"), f"{pointer}/external_id", required=True)
        self.string(block.get("source"), f"{pointer}/source", required=True)

    def _block_video(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("alt_text"), f"{pointer}/alt_text", required=True)
        self.string(block.get("video_url"), f"{pointer}/video_url", required=True)
        self.string(block.get("thumbnail_url"), f"{pointer}/thumbnail_url", required=True)
        self.text(block.get("title"), f"{pointer}/title", plain=True, max_len=200, what="title")

    def _image_source(self, obj: dict[str, Any], pointer: str) -> None:
        if obj.get("image_url") is None and obj.get("slack_file") is None:
            self.add("must provide either image_url or slack_file", pointer)
        if obj.get("image_url") is not None:
            self.string(obj["image_url"], f"{pointer}/image_url", max_len=3000, min_len=1)

    # -- elements

    def element(
        self,
        element: Any,
        pointer: str,
        allowed: Iterable[str],
        where: str,
        seen_in_block: set[str],
    ) -> None:
        if not isinstance(element, dict):
            self.add("must provide an object", pointer)
            return
        kind = element.get("type")
        if kind not in _KNOWN_ELEMENTS:
            self.add(f"unsupported element type: {kind!r}", f"{pointer}/type")
            return
        if kind not in allowed:
            self.add(f"element type {kind} is not allowed in a {where} block", f"{pointer}/type")
            return
        if kind in _INTERACTIVE:
            self.action_id(element.get("action_id"), f"{pointer}/action_id", seen_in_block)
        if element.get("confirm") is not None:
            self._confirm(element["confirm"], f"{pointer}/confirm")
        if element.get("placeholder") is not None:
            self.text(
                element["placeholder"],
                f"{pointer}/placeholder",
                plain=True,
                max_len=150,
                what="placeholder",
            )
        checker = getattr(self, f"_element_{kind}", None)
        if checker is not None:
            checker(element, pointer)

    def _confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.add("must provide an object", pointer)
            return
        self.text(confirm.get("title"), f"{pointer}/title", plain=True, max_len=100, what="title")
        self.text(confirm.get("text"), f"{pointer}/text", max_len=300)
        self.text(
            confirm.get("confirm"), f"{pointer}/confirm", plain=True, max_len=30, what="confirm"
        )
        self.text(confirm.get("deny"), f"{pointer}/deny", plain=True, max_len=30, what="deny")
        if confirm.get("style") not in (None, "primary", "danger"):
            self.add("must be primary or danger", f"{pointer}/style")

    def _element_button(self, element: dict[str, Any], pointer: str) -> None:
        self.text(
            element.get("text"), f"{pointer}/text", plain=True, max_len=75, what="button text"
        )
        self.string(element.get("value"), f"{pointer}/value", max_len=2000)
        self.string(element.get("url"), f"{pointer}/url", max_len=3000)
        self.string(
            element.get("accessibility_label"), f"{pointer}/accessibility_label", max_len=75
        )
        if element.get("style") not in (None, "primary", "danger"):
            self.add("must be primary or danger", f"{pointer}/style")

    def _element_workflow_button(self, element: dict[str, Any], pointer: str) -> None:
        self.text(
            element.get("text"), f"{pointer}/text", plain=True, max_len=75, what="button text"
        )
        if not isinstance(element.get("workflow"), dict):
            self.add("missing required field: workflow", pointer)

    def _element_image(self, element: dict[str, Any], pointer: str) -> None:
        self._image_source(element, pointer)
        self.string(element.get("alt_text"), f"{pointer}/alt_text", required=True)

    def _option(self, option: Any, pointer: str, *, plain: bool) -> tuple[Any, Any] | None:
        if not isinstance(option, dict):
            self.add("must provide an object", pointer)
            return None
        self.text(
            option.get("text"), f"{pointer}/text", plain=plain, max_len=75, what="option text"
        )
        self.string(option.get("value"), f"{pointer}/value", max_len=150, min_len=1, required=True)
        if option.get("description") is not None:
            self.text(
                option["description"],
                f"{pointer}/description",
                plain=plain,
                max_len=75,
                what="option description",
            )
        self.string(option.get("url"), f"{pointer}/url", max_len=3000)
        text = option.get("text")
        return (text.get("text") if isinstance(text, dict) else None, option.get("value"))

    def _options(
        self, options: Any, pointer: str, *, plain: bool, max_items: int, min_items: int = 1
    ) -> list[tuple[Any, Any]]:
        keys = []
        for i, option in enumerate(
            self.array(options, pointer, min_items=min_items, max_items=max_items)
        ):
            key = self._option(option, f"{pointer}/{i}", plain=plain)
            if key is not None:
                keys.append(key)
        return keys

    def _initial_options(
        self, element: dict[str, Any], pointer: str, keys: list[tuple[Any, Any]], *, multi: bool
    ) -> None:
        name = "initial_options" if multi else "initial_option"
        if element.get(name) is None:
            return
        initial = element[name] if multi else [element[name]]
        if not isinstance(initial, list):
            self.add("must be an array", f"{pointer}/{name}")
            return
        for i, option in enumerate(initial):
            where = f"{pointer}/{name}/{i}" if multi else f"{pointer}/{name}"
            key = self._option(option, where, plain=False)
            if key is not None and key not in keys:
                self.add(f"{name} must exactly match one of the options", where)

    def _static_select(self, element: dict[str, Any], pointer: str, *, multi: bool) -> None:
        options, groups = element.get("options"), element.get("option_groups")
        if (options is None) == (groups is None):
            self.add("must provide exactly one of options or option_groups", pointer)
        keys: list[tuple[Any, Any]] = []
        if options is not None:
            keys = self._options(options, f"{pointer}/options", plain=True, max_items=100)
        if groups is not None:
            for g, group in enumerate(
                self.array(groups, f"{pointer}/option_groups", max_items=100)
            ):
                where = f"{pointer}/option_groups/{g}"
                if not isinstance(group, dict):
                    self.add("must provide an object", where)
                    continue
                self.text(
                    group.get("label"), f"{where}/label", plain=True, max_len=75, what="label"
                )
                keys += self._options(
                    group.get("options"), f"{where}/options", plain=True, max_items=100
                )
        self._initial_options(element, pointer, keys, multi=multi)
        if multi and element.get("max_selected_items") is not None:
            value = element["max_selected_items"]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                self.add("must be an integer of at least 1", f"{pointer}/max_selected_items")

    def _element_static_select(self, element: dict[str, Any], pointer: str) -> None:
        self._static_select(element, pointer, multi=False)

    def _element_multi_static_select(self, element: dict[str, Any], pointer: str) -> None:
        self._static_select(element, pointer, multi=True)

    def _element_overflow(self, element: dict[str, Any], pointer: str) -> None:
        self._options(element.get("options"), f"{pointer}/options", plain=True, max_items=5)

    def _element_checkboxes(self, element: dict[str, Any], pointer: str) -> None:
        keys = self._options(
            element.get("options"), f"{pointer}/options", plain=False, max_items=10
        )
        self._initial_options(element, pointer, keys, multi=True)

    def _element_radio_buttons(self, element: dict[str, Any], pointer: str) -> None:
        keys = self._options(
            element.get("options"), f"{pointer}/options", plain=False, max_items=10
        )
        self._initial_options(element, pointer, keys, multi=False)

    def _element_datepicker(self, element: dict[str, Any], pointer: str) -> None:
        value = element.get("initial_date")
        if value is not None and not (isinstance(value, str) and _DATE_RE.match(value)):
            self.add("must be a date in the format YYYY-MM-DD", f"{pointer}/initial_date")

    def _element_timepicker(self, element: dict[str, Any], pointer: str) -> None:
        value = element.get("initial_time")
        if value is not None and not (isinstance(value, str) and _TIME_RE.match(value)):
            self.add("must be a time in the format HH:mm", f"{pointer}/initial_time")

    def _element_plain_text_input(self, element: dict[str, Any], pointer: str) -> None:
        self.string(element.get("initial_value"), f"{pointer}/initial_value", max_len=3000)
        for name, low in (("min_length", 0), ("max_length", 1)):
            value = element.get(name)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 3000:
                self.add(f"must be an integer between {low} and 3000", f"{pointer}/{name}")
        shortest, longest = element.get("min_length"), element.get("max_length")
        if isinstance(shortest, int) and isinstance(longest, int) and shortest > longest:
            self.add("min_length must not exceed max_length", pointer)

    def _element_number_input(self, element: dict[str, Any], pointer: str) -> None:
        if not isinstance(element.get("is_decimal_allowed"), bool):
            self.add("missing required field: is_decimal_allowed", pointer)

    # -- views

    def view(self, view: dict[str, Any], pointer: str = "/view") -> None:
        if self.surface == "modal":
            self.text(view.get("title"), f"{pointer}/title", plain=True, max_len=24, what="title")
            for name in ("submit", "close"):
                if view.get(name) is not None:
                    self.text(view[name], f"{pointer}/{name}", plain=True, max_len=24, what=name)
        if view.get("blocks") is None:
            self.add("missing required field: blocks", pointer)
        else:
            self.blocks(view["blocks"], f"{pointer}/blocks")
        if self.surface == "modal" and self.has_input_block and view.get("submit") is None:
            self.add("a modal with input blocks must have a submit button", f"{pointer}/submit")
        self.string(view.get("callback_id"), f"{pointer}/callback_id", max_len=255)
        self.string(view.get("private_metadata"), f"{pointer}/private_metadata", max_len=3000)
        self.string(view.get("external_id"), f"{pointer}/external_id", max_len=255, min_len=1)
        for flag in ("clear_on_close", "notify_on_close", "submit_disabled"):
            if flag in view and not isinstance(view[flag], bool):
                self.add("must be a boolean", f"{pointer}/{flag}")


# --------------------------------------------------------------------------- the fake


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _as_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else str(value)


def _basic_credentials(request: web.Request) -> dict[str, str]:
    """client_id and client_secret from an ``Authorization: Basic`` header, if any."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return {}
    try:
        decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return {}
    login, _, password = decoded.partition(":")
    return {"client_id": login, "client_secret": password}


def _form_value(value: str | bytes | bytearray | web.FileField) -> Any:
    if isinstance(value, web.FileField):
        return value.file.read()
    return bytes(value) if isinstance(value, bytearray) else value


def _between(messages: list[Message], args: dict[str, Any]) -> list[Message]:
    """The messages after ``oldest`` and before ``latest`` (both included with
    ``inclusive``), as conversations.history and .replies read them."""
    oldest = _stamp(args.get("oldest"), Decimal(0))
    latest = _stamp(args.get("latest"), Decimal("Infinity"))
    inclusive = _truthy(args.get("inclusive"))
    chosen = []
    for message in messages:
        at = Decimal(message.ts)
        if (oldest <= at <= latest) if inclusive else (oldest < at < latest):
            chosen.append(message)
    return chosen


def _check_metadata(metadata: Any) -> None:
    """Slack's checks of message metadata: a JSON object with an event_type
    (alphanumeric with underscores) and an event_payload object."""
    if not isinstance(metadata, dict):
        raise SlackError(
            "invalid_metadata_format", [_problem("must be a JSON object", "/metadata")]
        )
    event_type = metadata.get("event_type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise SlackError(
            "invalid_metadata_schema",
            [_problem("event_type must be alphanumeric with underscores", "/metadata/event_type")],
        )
    if not isinstance(metadata.get("event_payload"), dict):
        raise SlackError(
            "invalid_metadata_schema",
            [_problem("event_payload must be an object", "/metadata/event_payload")],
        )
    unknown = set(metadata) - {"event_type", "event_payload"}
    if unknown:
        raise SlackError(
            "invalid_metadata_schema",
            [_problem(f"unknown field {sorted(unknown)[0]}", "/metadata")],
        )


def _stamp(value: Any, default: Decimal) -> Decimal:
    text = _as_str(value)
    if text is None:
        return default
    try:
        return Decimal(text)
    except InvalidOperation:
        raise SlackError(
            "invalid_ts_latest" if default.is_infinite() else "invalid_ts_oldest"
        ) from None


def _limit(args: dict[str, Any], *, default: int, most: int) -> int:
    text = _as_str(args.get("limit"))
    if text is None or not text.isdigit() or int(text) == 0:
        return default
    return min(int(text), most)


def _split_ids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


# ==================================================================================
# Outage modes (the fault suite, issue 13). A separate section on purpose: it adds
# failure *windows* in front of every handler and changes nothing in how a call is
# answered when no outage is on.
# ==================================================================================

OUTAGE_MODES = ("503", "429", "delay", "cut", "lost")


@dataclass
class Outage:
    """One window in which Slack misbehaves for every call (see ``OutageModes``)."""

    mode: str
    until: float  # on the fake's clock
    retry_after: int
    delay: float
    begun: float


class OutageModes:
    """Time-window outages of the whole of Slack, switchable while the fake runs.

    ``blackout(mode, seconds)`` starts one now, for every Web API call, every post
    to a response_url and every file upload (not Socket Mode), until ``seconds`` have
    passed on the fake's clock or ``end_blackout()`` is called; a new one replaces
    the current one. The modes:

    * ``"503"``: HTTP 503 ``{"ok": false, "error": "service_unavailable"}`` (a
      response_url: 503 ``service_unavailable``), nothing takes effect;
    * ``"429"``: HTTP 429 with ``Retry-After: retry_after`` (default 5) and
      ``{"ok": false, "error": "ratelimited"}``, nothing takes effect;
    * ``"delay"``: the call takes effect at once and its answer comes ``delay``
      seconds (default 2) later, the window in which a client can give up, or
      die, with a post on Slack it never heard about;
    * ``"cut"``: the connection is closed without an answer, nothing takes effect;
    * ``"lost"``: the call takes effect, then the connection is closed without an
      answer (the client cannot know that it did).

    The fake runs in the test's process (real ``inhouse serve`` processes reach it
    on 127.0.0.1 through ``SLACK_API_URL`` and the response_urls it hands out), so a
    test switches modes by calling these methods from its own event loop.
    ``outage_refusals`` counts the calls an outage answered in place of Slack, by
    method (``"response_url"`` for response_urls; ``"lost"`` and ``"delay"`` calls
    count too, since their answer is what failed), ``outage_windows`` keeps every
    window as (mode, begun, ended) on the fake's clock, and ``response_times``
    when each post to a response_url was taken, by URL, in order.
    """

    clock: Callable[[], float]
    _base: str | None

    def _init_outages(self) -> None:
        self._blackout: Outage | None = None
        self.outage_refusals: dict[str, int] = {}
        self.outage_windows: list[tuple[str, float, float]] = []
        self.response_times: dict[str, list[float]] = {}

    def blackout(
        self, mode: str, seconds: float, *, retry_after: int = 5, delay: float = 2.0
    ) -> None:
        if mode not in OUTAGE_MODES:
            raise ValueError(f"unknown outage mode {mode!r}; one of {', '.join(OUTAGE_MODES)}")
        if seconds <= 0:
            raise ValueError("an outage lasts a positive number of seconds")
        self.end_blackout()
        now = self.clock()
        self._blackout = Outage(mode, now + seconds, retry_after, delay, now)

    def end_blackout(self) -> None:
        """End the current outage now (if any)."""
        if self._blackout is not None:
            ended = min(self.clock(), self._blackout.until)
            self.outage_windows.append((self._blackout.mode, self._blackout.begun, ended))
            self._blackout = None

    @property
    def in_outage(self) -> bool:
        return self.blackout_mode is not None

    @property
    def blackout_mode(self) -> str | None:
        """The mode of the outage going on now, or None."""
        if self._blackout is not None and self.clock() >= self._blackout.until:
            self.end_blackout()
        return self._blackout.mode if self._blackout is not None else None

    @web.middleware
    async def _outage_middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/api/"):
            name = path[len("/api/") :]
        elif path.startswith("/response/"):
            name = "response_url"
            url = f"{self._base}{path}"
            self.response_attempts[url] = self.response_attempts.get(url, 0) + 1
        elif path.startswith("/upload/"):
            name = "upload"
        else:
            return await handler(request)
        mode = self.blackout_mode
        if mode is None:
            response = await handler(request)
            if name == "response_url" and response.status == 200:
                self.response_times.setdefault(f"{self._base}{path}", []).append(self.clock())
            return response
        outage = self._blackout
        assert outage is not None
        self.outage_refusals[name] = self.outage_refusals.get(name, 0) + 1
        if mode == "503":
            if name == "response_url":
                return web.Response(status=503, text="service_unavailable")
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        if mode == "429":
            headers = {"Retry-After": str(outage.retry_after)}
            if name == "response_url":
                return web.Response(status=429, text="rate_limited", headers=headers)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers=headers
            )
        if mode == "cut":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the caller
        response = await handler(request)
        if name == "response_url" and response.status == 200:
            self.response_times.setdefault(f"{self._base}{path}", []).append(self.clock())
        if mode == "delay":
            await asyncio.sleep(outage.delay)
            return response
        # "lost": it took effect; the answer is not coming.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)


# ============================================================ end of outage modes


class FakeSlack(OutageModes):
    """The fake Slack Web API server. See the module docstring."""

    app_token: str = "xapp-test"
    bot_user_id: str = "UBOT"
    team_id: str = "T0TEAM"
    bot_id: str = "B0BOT"
    team_name: str = "Fake Team"
    bot_name: str = "inhouse"
    # The app's OAuth credentials, and the user token an install with user scopes gives.
    client_id: str = "111.222"
    client_secret: str = "fake-client-secret"
    user_token: str = "xoxp-fake-installer"

    def __init__(
        self,
        *,
        token: str | None = None,
        scopes: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        trigger_ttl: float = 3.0,
        unique_action_ids: bool = True,
    ) -> None:
        """``scopes``: what the first workspace's token holds (default: the manifest's);
        ``wall``: the clock message timestamps follow (seconds since the epoch)."""
        self.clock = clock
        self.wall = wall
        self.trigger_ttl = trigger_ttl
        self.unique_action_ids = unique_action_ids

        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: dict[str, list[Ephemeral]] = {}
        self.views: dict[str, View] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, UploadedFile] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.warnings: list[str] = []  # lenient acceptances, e.g. an unknown thread_ts
        # What was posted to each response_url (new_response_url), in order, and
        # how many posts each one was sent (refused ones too).
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.response_attempts: dict[str, int] = {}
        # The client connection (its address) each Web API call and each post to a
        # response_url came on, in order: what a client keeps alive, it reuses.
        self.connections: list[tuple[str, Any]] = []
        # What Socket Mode clients sent back (acknowledgements), in order.
        self.socket_acks: list[dict[str, Any]] = []
        self._connections: list[_Connection] = []
        self._socket_tickets: set[str] = set()
        # Envelopes whose connection ended before they were acknowledged: sent again
        # on the next connection.
        self._redeliver: list[dict[str, Any]] = []
        self._closing: set[asyncio.Task[None]] = set()

        self._triggers: dict[str, _Trigger] = {}
        self._response_born: dict[str, float] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._modal_stacks: dict[str, list[str]] = {}
        self._grants: dict[str, _Grant] = {}
        self._user_scopes: frozenset[str] = frozenset()
        self._last_ts = 0  # microseconds of the newest message timestamp
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._base: str | None = None
        # The workspace of the call being answered (methods run one at a time).
        self._caller_team = self.team_id
        self._scopes: frozenset[str] | None = None
        self._scope_checked = False
        # Seconds to wait before answering a method's successful calls.
        self.answer_delay: dict[str, float] = {}
        self._init_outages()  # blackouts (OutageModes), the fault suite's section above

        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "oauth.v2.access": self._oauth_v2_access,
        }
        unscoped = set(self._methods) - set(METHOD_SCOPES)
        assert not unscoped, f"give these methods their Slack scopes: {sorted(unscoped)}"

        self.add_workspace(
            self.team_id,
            self.team_name,
            bot_user_id=self.bot_user_id,
            bot_id=self.bot_id,
            token=token or "xoxb-test",
            scopes=scopes,
        )

    @property
    def token(self) -> str:
        """The first workspace's bot token (a new one after it is installed again)."""
        return self.workspaces[self.team_id].token

    @property
    def methods(self) -> frozenset[str]:
        """The Web API methods the fake answers."""
        return frozenset(self._methods)

    @property
    def _caller(self) -> Workspace:
        return self.workspaces[self._caller_team]

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._base is None:
            raise RuntimeError("FakeSlack is not started; await start() or use `async with`")
        return f"{self._base}/api/"

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(
            client_max_size=64 * 1024 * 1024, middlewares=[self._outage_middleware]
        )
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_post("/response/{token}", self._handle_response)
        app.router.add_get("/socket/{ticket}", self._handle_socket)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base = f"http://{host}:{port}"

    async def stop(self) -> None:
        for task in list(self._closing):
            task.cancel()
        for connection in list(self._connections):
            await connection.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test set-up

    def add_workspace(
        self,
        team_id: str,
        name: str = "",
        *,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        token: str | None = None,
        scopes: Iterable[str] | None = None,
        installed: bool = True,
    ) -> Workspace:
        """A workspace with the app's bot user in it; its own bot token, which works
        from the start with ``scopes`` (default: the manifest's), or, with
        ``installed=False``, only once an OAuth install grants it."""
        suffix = team_id.removeprefix("T")
        workspace = Workspace(
            team_id=team_id,
            name=name or f"Workspace {suffix}",
            bot_user_id=bot_user_id or f"UBOT{suffix}",
            bot_id=bot_id or f"BBOT{suffix}",
            token=token or self._new_bot_token(team_id),
            scopes=frozenset(manifest_bot_scopes() if scopes is None else scopes),
            installed=installed,
        )
        self.workspaces[team_id] = workspace
        self.add_user(
            workspace.bot_user_id,
            name=self.bot_name,
            real_name="Inhouse",
            is_bot=True,
            team=team_id,
        )
        return workspace

    def uninstall(self, team_id: str) -> None:
        """The app is removed from the workspace: its token is revoked for good
        (``token_revoked``); an install afterwards issues a new one."""
        workspace = self.workspaces[team_id]
        workspace.revoked.add(workspace.token)
        workspace.installed = False

    def token_of(self, team_id: str) -> str:
        return self.workspaces[team_id].token

    def _new_bot_token(self, team_id: str) -> str:
        digest = hashlib.sha1(f"{team_id}-{next(self._ids)}".encode()).hexdigest()[:24]
        return f"xoxb-{team_id.lower()}-{digest}"

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str = "",
        real_name: str = "",
        tz: str = "Europe/Berlin",
        locale: str = "en-US",
        is_bot: bool = False,
        team: str | None = None,
    ) -> None:
        """A person in ``team`` (default: the first workspace)."""
        ZoneInfo(tz)  # fail early on a typo
        self.users[user_id] = User(
            user_id, email, name, real_name, tz, locale, is_bot, team or self.team_id
        )

    def add_channel(
        self,
        channel_id: str,
        name: str = "",
        *,
        is_member: bool = True,
        is_private: bool = False,
        is_archived: bool = False,
        members: Iterable[str] | None = None,
        team: str | None = None,
    ) -> None:
        """Make a channel known. ``is_member=False``: the bot is not in it (``not_in_channel``).

        ``members``: if given, chat.postEphemeral to anyone else fails with
        ``user_not_in_channel``. ``D<user id>`` is that user's DM with the bot.
        """
        im_user = channel_id[1:] if channel_id.startswith("D") else None
        if im_user is not None and team is None and im_user in self.users:
            team = self.users[im_user].team
        self.channels[channel_id] = Channel(
            channel_id,
            "" if im_user else (name or channel_id.lower()),
            is_member=is_member,
            is_private=is_private or im_user is not None,
            is_archived=is_archived,
            members=set(members) if members is not None else None,
            im_user=im_user,
            team=team or self.team_id,
        )
        self.messages.setdefault(channel_id, [])

    def add_group_dm(self, channel_id: str, users: Iterable[str]) -> None:
        """A group DM (mpim) of these people and the bot of their workspace."""
        people = list(users)
        team = self.users[people[0]].team if people and people[0] in self.users else self.team_id
        members = sorted({*people, self.workspaces[team].bot_user_id})
        self.channels[channel_id] = Channel(
            channel_id,
            "mpdm-" + "--".join(members),
            is_private=True,
            members=set(members),
            mpim_users=members,
            team=team,
        )
        self.messages.setdefault(channel_id, [])

    def add_message(
        self,
        channel_id: str,
        text: str = "",
        *,
        user: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """Put a message from someone else (a person) in a known channel, e.g. to reply to it."""
        if channel_id not in self.channels:
            raise ValueError(f"unknown channel {channel_id!r}; add_channel() it first")
        channel = self.channels[channel_id]
        message = Message(self._next_ts(), text, blocks, thread_ts, user)
        self.messages[channel.id].append(message)
        return message

    def new_trigger_id(self, user_id: str = "U0USER", *, age: float = 0.0) -> str:
        """A trigger_id as an interaction by ``user_id`` would carry it.

        It is valid for ``trigger_ttl`` (3) seconds by ``clock`` and usable once;
        ``age`` back-dates it (``age=4`` gives an already expired trigger).
        """
        n = next(self._ids)
        digest = hashlib.sha1(f"trigger-{n}".encode()).hexdigest()[:16]
        trigger_id = f"{n}.{1_690_000_000_000 + n}.{digest}"
        self._triggers[trigger_id] = _Trigger(user_id, self.clock() - age)
        return trigger_id

    def new_response_url(self) -> str:
        """A slash command's response_url: up to 5 posts within 30 minutes, as
        Slack allows; what is posted is kept in ``responses[url]``."""
        url = f"{self._base}/response/{next(self._ids)}"
        self.responses[url] = []
        self._response_born[url] = self.clock()
        return url

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        disconnect: bool = False,
        lose_answer: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status=429``: HTTP 429, ``Retry-After: retry_after`` (default 1) and
        ``{"ok": false, "error": "ratelimited"}``. ``status>=500``: that status
        with ``{"ok": false, "error": error or "internal_error"}``. Otherwise
        HTTP 200 with ``{"ok": false, "error": error or "fatal_error"}``.
        ``disconnect=True`` drops the connection without an answer (what
        ``AsyncConnectionErrorRetryHandler`` retries). ``lose_answer=True`` lets the
        call take effect first (a message is posted) and then drops the connection
        without an answer: a crash or a cut after Slack accepted the call.
        """
        if method not in self._methods:
            raise ValueError(f"FakeSlack does not implement {method!r}; a typo?")
        if times < 1:
            raise ValueError("times must be at least 1")
        self._failures.setdefault(method, []).append(
            _Failure(error, status, retry_after, disconnect, times, lose_answer)
        )

    @property
    def socket_connected(self) -> bool:
        """A Socket Mode client is connected (and has been sent ``hello``)."""
        return bool(self._connections)

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode connections are open now."""
        return len(self._connections)

    async def socket_send(self, frame: str | dict[str, Any], *, then_cut: bool = False) -> None:
        """Push a frame to the newest Socket Mode connection, as Slack pushes an
        envelope: a dict is sent as JSON, a string as it is (garbage included).

        ``then_cut`` ends that connection right after the frame has gone out, without
        a close frame: the client receives the envelope but its acknowledgement is
        lost, so the envelope is sent again on the next connection.
        """
        if not self._connections:
            raise AssertionError("no Socket Mode client is connected")
        connection = self._connections[-1]
        if isinstance(frame, dict) and isinstance(frame.get("envelope_id"), str):
            connection.unacked[frame["envelope_id"]] = frame
        text = frame if isinstance(frame, str) else json.dumps(frame)
        if then_cut:
            connection.cut = True
        await connection.socket.send_str(text)
        if then_cut and connection.request.transport is not None:
            connection.request.transport.close()  # what was written goes out first

    async def socket_cut(self) -> None:
        """End every Socket Mode connection abruptly, as a dropped network or a
        restarted proxy does: no close frame, and nothing more from either side."""
        for connection in list(self._connections):
            connection.cut = True
            if connection.request.transport is not None:
                connection.request.transport.abort()

    async def socket_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float = 10.0
    ) -> None:
        """Slack's notice that it is about to close the connections (``warning``,
        ``refresh_requested``, ...): a client should open a new one. Slack closes the
        old connection itself ``close_after`` seconds later if the client has not."""
        for connection in list(self._connections):
            await connection.socket.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
            )
            task = asyncio.create_task(self._close_later(connection, close_after))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close_later(self, connection: _Connection, delay: float) -> None:
        await asyncio.sleep(delay)
        await connection.socket.close()

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fake's documented API
    ) -> None:
        """Poll ``predicate`` until it is true; AssertionError after ``timeout`` seconds."""
        await wait_or_explain(predicate, timeout, self._recent)

    def _recent(self) -> str:
        recent = "\n  ".join(
            f"{c.method} {c.args!r} -> {c.status} {c.response.get('error') or 'ok'}"
            for c in self.calls[-10:]
        )
        return f"last calls ({len(self.calls)} in all):\n  {recent or '(none)'}"

    # ------------------------------------------------------------------ HTTP

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        call = Call(method, {}, http_method=request.method, content_type=request.content_type)
        call.at = time.monotonic()
        self._came_on(method, request)
        try:
            raw, body_args, token = await self._read_args(request)
        except SlackError as error:
            self.calls.append(call)
            return self._reply(call, 200, error.body())
        call.args = raw
        call.token = token
        self.calls.append(call)

        if method not in self._methods:
            return self._reply(
                call, 200, {"ok": False, "error": "unknown_method", "req_method": method}
            )

        failure = self._take_failure(method)
        if failure is not None and not failure.lose_answer:
            return self._fail(request, call, failure)

        args = dict(raw)
        scopes: frozenset[str] | None = None
        self._caller_team = self.team_id
        if method in _TOKENLESS_METHODS:
            args = {**_basic_credentials(request), **args}
        elif token is None:
            return self._reply(call, 200, {"ok": False, "error": "not_authed"})
        else:
            refused = self._authenticate(method, token)
            if refused is not None:
                return self._reply(call, 200, {"ok": False, "error": refused})
            scopes = self._scopes_of(token)
            call.workspace = self._caller_team
        headers = {"x-oauth-scopes": ",".join(sorted(scopes))} if scopes is not None else None

        json_body = request.content_type == "application/json"
        if json_body and method in _FORM_ONLY_METHODS:
            # Slack ignores JSON bodies for these methods; only query args count.
            args = {k: v for k, v in raw.items() if k not in body_args}
        self._scopes = scopes
        self._scope_checked = False
        try:
            self._require(METHOD_SCOPES[method])
            result = self._methods[method](args)
        except SlackError as error:
            body = error.body()
            if json_body and method in _FORM_ONLY_METHODS and body_args:
                body.setdefault("response_metadata", {}).setdefault("messages", []).append(
                    f"[WARN] {method} does not accept JSON bodies; their arguments were ignored"
                )
            return self._reply(call, 200, body, headers)
        if not self._scope_checked:
            raise AssertionError(f"FakeSlack bug: {method} answered without checking its scope")
        if failure is not None:
            # Done on Slack's side; the answer is lost on the way (a cut, a crash).
            call.status = 0
            call.response = {"ok": True, **result, "lost": True}
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        delay = self.answer_delay.get(method)
        if delay:
            await asyncio.sleep(delay)  # done on Slack's side; the answer is slow
        return self._reply(call, 200, {"ok": True, **result}, headers)

    def _authenticate(self, method: str, token: str) -> str | None:
        """The error for a token this method does not take, else None (and the
        caller's workspace is set)."""
        if token == self.app_token:
            return None if method in _APP_TOKEN_METHODS else "not_allowed_token_type"
        if token == self.user_token:
            return "not_allowed_token_type" if method in _APP_TOKEN_METHODS else None
        for workspace in self.workspaces.values():
            if token in workspace.revoked:
                return "token_revoked"
            if token == workspace.token and workspace.installed:
                if method in _APP_TOKEN_METHODS:
                    return "not_allowed_token_type"
                self._caller_team = workspace.team_id
                return None
        return "invalid_auth"

    def _scopes_of(self, token: str) -> frozenset[str]:
        if token == self.app_token:
            return frozenset({"connections:write"})
        if token == self.user_token:
            return self._user_scopes
        return self._caller.scopes

    def _require(self, needed: MethodScopes, kind: str | None = None) -> None:
        """Slack's missing_scope unless the token holds the scope (for a dict, the
        one for a conversation of this kind; the method calls again once it knows)."""
        if isinstance(needed, dict):
            if kind is None:
                return
            needed = (needed[kind],)
        self._scope_checked = True
        if self._scopes is None or not needed or set(needed) & self._scopes:
            return
        raise SlackError(
            "missing_scope", needed=",".join(needed), provided=",".join(sorted(self._scopes))
        )

    def _require_for(self, method: str, channel: Channel) -> None:
        self._require(METHOD_SCOPES[method], channel.kind)

    async def _read_args(self, request: web.Request) -> tuple[dict[str, Any], set[str], str | None]:
        args: dict[str, Any] = dict(request.query)
        body: dict[str, Any] = {}
        token: str | None = None
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    parsed = json.loads(await request.text())
                except ValueError as exc:
                    raise SlackError("invalid_json") from exc
                if not isinstance(parsed, dict):
                    raise SlackError("invalid_json")
                body = parsed
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for key, field_value in form.items():
                    body[key] = _form_value(field_value)
                if isinstance(body.get("token"), str):
                    token = body.pop("token")
        args.update(body)
        args.pop("token", None)  # Slack no longer takes tokens in query strings or JSON

        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :].strip() or None

        names = list(_JSON_STRING_ARGS)
        if request.match_info["method"] == "files.completeUploadExternal":
            names.append("files")
        for name in names:
            encoded = args.get(name)
            if isinstance(encoded, str) and encoded.strip():
                # Left as a string if malformed: the method reports it.
                with contextlib.suppress(ValueError):
                    args[name] = json.loads(encoded)
        return args, set(body), token

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    def _fail(self, request: web.Request, call: Call, failure: _Failure) -> web.StreamResponse:
        if failure.disconnect:
            call.status = 0
            call.response = {"ok": False, "error": "(connection dropped)"}
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if failure.status == 429:
            retry_after = failure.retry_after if failure.retry_after is not None else 1
            body = {"ok": False, "error": failure.error or "ratelimited"}
            return self._reply(call, 429, body, {"Retry-After": str(retry_after)})
        if failure.status >= 500:
            body = {"ok": False, "error": failure.error or "internal_error"}
            return self._reply(call, failure.status, body)
        return self._reply(
            call, failure.status, {"ok": False, "error": failure.error or "fatal_error"}
        )

    @staticmethod
    def _reply(
        call: Call, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        call.status = status
        call.response = body
        return web.json_response(body, status=status, headers=headers)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.completed:
            return web.Response(status=404, text="file not found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            data = b""
            form = await request.post()
            for value in form.values():
                if not isinstance(value, str):
                    data = _form_value(value)
                    break
        else:
            data = await request.read()
        if len(data) != file.length:
            text = f"length mismatch: {len(data)} bytes sent, {file.length} announced"
            return web.Response(status=400, text=text, content_type="text/plain")
        file.content = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    def shown(self, url: str) -> list[dict[str, Any]]:
        """What the person sees of the answers posted to a response_url: one with
        `replace_original` takes the place of the one before it (the first one, of
        the command's acknowledgement), as Slack shows them."""
        visible: list[dict[str, Any]] = []
        for body in self.responses.get(url, []):
            if body.get("replace_original") and visible:
                visible[-1] = body
            else:
                visible.append(body)
        return visible

    def _came_on(self, name: str, request: web.Request) -> None:
        if request.transport is not None:
            self.connections.append((name, request.transport.get_extra_info("peername")))

    async def _handle_response(self, request: web.Request) -> web.StreamResponse:
        url = f"{self._base}/response/{request.match_info['token']}"
        self._came_on("response_url", request)
        born = self._response_born.get(url)
        if born is None or self.clock() - born > RESPONSE_URL_TTL:
            return web.Response(status=404, text="expired_url", content_type="text/plain")
        if len(self.responses[url]) >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url", content_type="text/plain")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload", content_type="text/plain")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return web.Response(status=400, text="no_text", content_type="text/plain")
        if body.get("blocks"):
            checks = BlockKitValidator("message", unique_action_ids=self.unique_action_ids)
            checks.blocks(body["blocks"], "/blocks")
            if checks.problems:
                return web.Response(status=400, text="invalid_blocks", content_type="text/plain")
        self.responses[url].append(body)
        return web.Response(text="ok", content_type="text/plain")

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["ticket"] not in self._socket_tickets:
            return web.Response(status=401, text="invalid ticket", content_type="text/plain")
        self._socket_tickets.discard(request.match_info["ticket"])  # a URL is used once
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._connections) + 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        connection = _Connection(socket, request)
        self._connections.append(connection)
        try:
            pending, self._redeliver = self._redeliver, []
            for envelope in pending:
                connection.unacked[envelope["envelope_id"]] = envelope
                await socket.send_json(envelope)
            async for frame in socket:
                if frame.type != WSMsgType.TEXT or connection.cut:
                    continue
                try:
                    sent = json.loads(frame.data)
                except ValueError:
                    self.warnings.append(f"socket: not JSON: {frame.data[:200]!r}")
                    continue
                if not isinstance(sent, dict) or "envelope_id" not in sent:
                    self.warnings.append(f"socket: not an acknowledgement: {frame.data[:200]!r}")
                    continue
                self.socket_acks.append(sent)
                # An envelope id is the app's, not the connection's: a client that
                # moved to a new connection meanwhile acknowledges over that one.
                for each in self._connections:
                    each.unacked.pop(str(sent["envelope_id"]), None)
        finally:
            self._connections.remove(connection)
            for envelope in connection.unacked.values():
                attempt = envelope.get("retry_attempt")
                self._redeliver.append(
                    {
                        **envelope,
                        "retry_attempt": (attempt if isinstance(attempt, int) else 0) + 1,
                        "retry_reason": "timeout",
                    }
                )
        return socket

    # ------------------------------------------------------------------ model helpers

    def _next_ts(self) -> str:
        # Slack's ts is the time the message was posted, unique in its channel.
        micros = max(int(self.wall() * 1_000_000), self._last_ts + 100)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _dm_channel(self, user_id: str) -> Channel:
        channel_id = "D" + user_id
        channel = self.channels.get(channel_id)
        if channel is None:
            team = self.users[user_id].team if user_id in self.users else self._caller_team
            channel = Channel(channel_id, "", im_user=user_id, is_private=True, team=team)
            self.channels[channel_id] = channel
            self.messages.setdefault(channel_id, [])
        return channel

    def _channel(self, value: Any) -> Channel:
        """A conversation of the caller's workspace: another workspace's is as
        unknown to this token as one that does not exist."""
        channel_id = _as_str(value)
        if channel_id is None:
            raise SlackError("channel_not_found")
        found: Channel | None = None
        if channel_id in self.channels:
            found = self.channels[channel_id]
        elif channel_id[0] in "UW" and channel_id in self.users:
            if self.users[channel_id].team == self._caller_team:
                found = self._dm_channel(channel_id)  # chat.postMessage(channel=<user id>)
        else:
            name = channel_id.lstrip("#")
            found = next(
                (
                    c
                    for c in self.channels.values()
                    if c.name and c.name == name and not c.is_im and c.team == self._caller_team
                ),
                None,
            )
        if found is None or found.team != self._caller_team:
            raise SlackError("channel_not_found")
        return found

    def _writable_channel(self, value: Any) -> Channel:
        channel = self._channel(value)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.is_member:
            raise SlackError("not_in_channel")
        return channel

    def _find_message(self, channel: Channel, ts: Any) -> Message:
        ts = _as_str(ts)
        for message in self.messages.get(channel.id, []):
            if message.ts == ts and not message.deleted:
                return message
        raise SlackError("message_not_found")

    def _user(self, value: Any, error: str = "user_not_found") -> User:
        user_id = _as_str(value)
        if user_id is None or user_id not in self.users:
            raise SlackError(error)
        user = self.users[user_id]
        if user.team != self._caller_team:
            raise SlackError(error)  # not a member of the caller's workspace
        return user

    def _message_payload(
        self, channel: Channel, message: Message, *, metadata: bool = True
    ) -> dict[str, Any]:
        """A message as Slack shows it; its metadata only where Slack shows it (the
        answer to the post, or history and replies with include_all_metadata)."""
        payload: dict[str, Any] = {
            "type": "message",
            "text": message.text,
            "user": message.user,
            "ts": message.ts,
            "team": channel.team,
        }
        bot = self.workspaces[channel.team]
        if message.user == bot.bot_user_id:
            payload.update(bot_id=bot.bot_id, app_id=APP_ID)
        if message.blocks is not None:
            payload["blocks"] = message.blocks
        if message.attachments is not None:
            payload["attachments"] = message.attachments
        if message.metadata is not None and metadata:
            payload["metadata"] = message.metadata
        if message.thread_ts is not None:
            payload["thread_ts"] = message.thread_ts
        if message.edited:
            payload["edited"] = {"user": message.user, "ts": message.ts}
        if message.files:
            payload["files"] = [{"id": file_id} for file_id in message.files]
        if message.reactions:
            payload["reactions"] = [
                {"name": name, "users": users, "count": len(users)}
                for name, users in message.reactions.items()
            ]
        if message.thread_ts == message.ts:
            replies = [
                m
                for m in self.messages.get(channel.id, [])
                if m.thread_ts == message.ts and m.ts != message.ts and not m.deleted
            ]
            payload["reply_count"] = len(replies)
        return payload

    def _channel_payload(self, channel: Channel) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": channel.id,
            "created": 1_690_000_000,
            "is_archived": channel.is_archived,
            "is_im": channel.is_im,
            "is_mpim": channel.mpim_users is not None,
            "is_private": channel.is_private,
            "is_member": channel.is_member,
            "is_channel": not channel.is_im and channel.mpim_users is None,
            "is_group": channel.is_private and not channel.is_im and channel.mpim_users is None,
            "context_team_id": channel.team,
        }
        if channel.is_im:
            payload["user"] = channel.im_user
            payload["is_open"] = True
        else:
            payload["name"] = channel.name
            payload["name_normalized"] = channel.name
        return payload

    def _user_payload(self, user: User, *, include_locale: bool) -> dict[str, Any]:
        now = datetime.now(UTC).astimezone(ZoneInfo(user.tz))
        offset = now.utcoffset()
        real_name = user.real_name or user.name
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "team": user.team,
        }
        # Slack shows the email only to a token with users:read.email.
        if user.email is not None and "users:read.email" in (self._scopes or ()):
            profile["email"] = user.email
        bot = self.workspaces.get(user.team)
        if user.is_bot and bot is not None and user.id == bot.bot_user_id:
            profile["bot_id"] = bot.bot_id
        payload: dict[str, Any] = {
            "id": user.id,
            "team_id": user.team,
            "name": user.name or user.id.lower(),
            "deleted": False,
            "real_name": real_name,
            "tz": user.tz,
            "tz_label": now.tzname() or user.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "is_admin": False,
            "is_owner": False,
            "profile": profile,
        }
        if include_locale:
            payload["locale"] = user.locale
        return payload

    # ------------------------------------------------------------------ argument checks

    def _json_arg(self, args: dict[str, Any], name: str, error: str) -> Any:
        value = args.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            raise SlackError(error, [_problem(f"{name} must be valid JSON", f"/{name}")])
        return value

    def _check_message_content(self, args: dict[str, Any], method: str) -> dict[str, Any]:
        """Text, blocks and attachments of chat.postMessage/update/postEphemeral."""
        blocks = self._json_arg(args, "blocks", "invalid_blocks_format")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format", [_problem("must be an array", "/blocks")])
        attachments = self._json_arg(args, "attachments", "invalid_attachments")
        if attachments is not None and (
            not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments)
        ):
            raise SlackError(
                "invalid_attachments", [_problem("must be an array of objects", "/attachments")]
            )
        metadata = self._json_arg(args, "metadata", "invalid_metadata_format")
        if metadata is not None:
            _check_metadata(metadata)
        text = args.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        markdown_text = args.get("markdown_text")

        if _present(markdown_text) and (_present(text) or blocks):
            raise SlackError("markdown_text_conflict")
        has_content = _present(text) or bool(blocks) or bool(attachments) or _present(markdown_text)
        if method != "chat.update" and not has_content:
            raise SlackError("no_text")
        if (
            method == "chat.update"
            and not has_content
            and blocks is None
            and "file_ids" not in args
        ):
            raise SlackError("no_text")
        if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
            raise SlackError(
                "msg_too_long",
                [_problem(f"must be less than {MESSAGE_TEXT_LIMIT + 1} characters", "/text")],
            )

        problems: list[str] = []
        if blocks:
            validator = BlockKitValidator("message", unique_action_ids=self.unique_action_ids)
            validator.blocks(blocks, "/blocks")
            problems += validator.problems
        for i, attachment in enumerate(attachments or []):
            if attachment.get("blocks") is not None:
                validator = BlockKitValidator("message", unique_action_ids=self.unique_action_ids)
                validator.blocks(attachment["blocks"], f"/attachments/{i}/blocks")
                problems += validator.problems
        if problems:
            raise SlackError("invalid_blocks", problems)
        return {
            "text": text if text is not None else markdown_text,
            "blocks": blocks,
            "attachments": attachments,
            "metadata": metadata,
        }

    # ------------------------------------------------------------------ methods: oauth

    def approve_install(
        self, authorize_url: str, *, user: str = "U0USER", team: str | None = None
    ) -> str:
        """Slack's consent page, approved by ``user`` for workspace ``team`` (default:
        the first): the code it redirects back with.

        ``authorize_url`` is where the app's install page sends the browser; its
        ``client_id`` must be this app's (Slack shows an error page otherwise).
        """
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        if query.get("client_id") != self.client_id:
            raise ValueError(f"Slack refuses the consent page: unknown client_id in {query}")
        team = team or self.team_id
        if team not in self.workspaces:
            raise ValueError(f"no workspace {team}; add_workspace() it first")
        if user in self.users and self.users[user].team != team:
            raise ValueError(f"{user} is not a member of {team}")
        code = f"{next(self._ids)}.{hashlib.sha1(authorize_url.encode()).hexdigest()[:20]}"
        self._grants[code] = _Grant(
            installer=user,
            team=team,
            scopes=[s for s in query.get("scope", "").split(",") if s],
            user_scopes=[s for s in query.get("user_scope", "").split(",") if s],
            redirect_uri=query.get("redirect_uri"),
            issued_at=self.clock(),
        )
        return code

    def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("client_id") != self.client_id:
            raise SlackError("invalid_client_id")
        if args.get("client_secret") != self.client_secret:
            raise SlackError("bad_client_secret")
        grant = self._grants.get(str(args.get("code") or ""))
        if grant is None or grant.used or self.clock() - grant.issued_at > OAUTH_CODE_TTL:
            raise SlackError("invalid_code")
        if grant.redirect_uri is not None and args.get("redirect_uri") != grant.redirect_uri:
            raise SlackError("bad_redirect_uri")
        grant.used = True
        workspace = self.workspaces[grant.team]
        if workspace.token in workspace.revoked:
            workspace.token = self._new_bot_token(workspace.team_id)  # uninstalled before
        # The token holds exactly what this install asked for. (Slack adds a new grant
        # to an earlier one; the stricter reading makes a scope dropped from the
        # install URL fail here.)
        workspace.scopes = frozenset(grant.scopes)
        workspace.installed = True
        installer: dict[str, Any] = {"id": grant.installer}
        if grant.user_scopes:
            self._user_scopes = frozenset(grant.user_scopes)
            installer.update(
                scope=",".join(grant.user_scopes), access_token=self.user_token, token_type="user"
            )
        return {
            "app_id": APP_ID,
            "authed_user": installer,
            "scope": ",".join(grant.scopes),
            "token_type": "bot",
            "access_token": workspace.token,
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": workspace.team_id, "name": workspace.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ methods: auth, chat

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{PERMALINK_BASE}/",
            "team": self._caller.name,
            "user": self.bot_name,
            "team_id": self._caller_team,
            "user_id": self._caller.bot_user_id,
            "bot_id": self._caller.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = self._new_id("ticket")
        self._socket_tickets.add(ticket)
        assert self._base is not None
        return {"url": self._base.replace("http://", "ws://") + f"/socket/{ticket}"}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(args.get("channel"))
        content = self._check_message_content(args, "chat.postMessage")
        thread_ts = _as_str(args.get("thread_ts"))
        if thread_ts is not None:
            try:
                parent = self._find_message(channel, thread_ts)
            except SlackError:
                # Real Slack does not refuse this either; keep a note for the test.
                self.warnings.append(
                    f"chat.postMessage: thread_ts {thread_ts} is not a message in {channel.id}"
                )
            else:
                if parent.thread_ts is None:
                    parent.thread_ts = parent.ts  # it becomes a thread parent
                thread_ts = parent.thread_ts
        message = Message(
            ts=self._next_ts(),
            text=content["text"] or "",
            blocks=content["blocks"],
            thread_ts=thread_ts,
            user=self._caller.bot_user_id,
            attachments=content["attachments"],
            metadata=content["metadata"],
        )
        self.messages.setdefault(channel.id, []).append(message)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "message": self._message_payload(channel, message),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(args.get("channel"))
        if _as_str(args.get("ts")) is None:
            raise SlackError("message_not_found", [_problem("missing required field: ts", "/ts")])
        message = self._find_message(channel, args.get("ts"))
        if message.user != self._caller.bot_user_id:
            raise SlackError("cant_update_message")
        content = self._check_message_content(args, "chat.update")
        if "text" in args or "markdown_text" in args:
            message.text = content["text"] or ""
        if content["blocks"] is not None or "blocks" in args:
            message.blocks = content["blocks"] or None
        if content["attachments"] is not None:
            message.attachments = content["attachments"]
        if content["metadata"] is not None:
            message.metadata = content["metadata"]
        message.edited += 1
        payload = self._message_payload(channel, message)
        return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": payload}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(args.get("channel"))
        user = self._user(args.get("user"))
        if channel.is_im and channel.im_user != user.id:
            raise SlackError("user_not_in_channel")
        if channel.members is not None and user.id not in channel.members:
            raise SlackError("user_not_in_channel")
        content = self._check_message_content(args, "chat.postEphemeral")
        ephemeral = Ephemeral(
            message_ts=self._next_ts(),
            channel=channel.id,
            user=user.id,
            text=content["text"] or "",
            blocks=content["blocks"],
            thread_ts=_as_str(args.get("thread_ts")),
        )
        self.ephemerals.setdefault(channel.id, []).append(ephemeral)
        return {"message_ts": ephemeral.message_ts}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._find_message(channel, args.get("ts"))
        if message.user != self._caller.bot_user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._find_message(channel, args.get("message_ts"))
        link = f"{PERMALINK_BASE}/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.thread_ts is not None and message.thread_ts != message.ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # ------------------------------------------------------------------ conversations

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return_im = _truthy(args.get("return_im"))
        if _present(args.get("channel")):
            channel = self._channel(args.get("channel"))
            self._require_for("conversations.open", channel)
            return {"channel": self._channel_payload(channel) if return_im else {"id": channel.id}}
        user_ids = _split_ids(args.get("users"))
        if not user_ids:
            raise SlackError("users_list_not_supplied")
        if len(user_ids) > 8:
            raise SlackError("too_many_users")
        self._require(METHOD_SCOPES["conversations.open"], "im" if len(user_ids) == 1 else "mpim")
        # People of another workspace are unknown to this token.
        unknown = [
            u for u in user_ids if u not in self.users or self.users[u].team != self._caller_team
        ]
        if unknown:
            raise SlackError(
                "user_not_found",
                [_problem(f"unknown user(s): {', '.join(unknown)}", "/users")],
            )
        if len(user_ids) == 1:
            existed = "D" + user_ids[0] in self.channels
            channel = self._dm_channel(user_ids[0])
        else:
            members = sorted(set(user_ids) | {self._caller.bot_user_id})
            channel_id = "G" + hashlib.sha1(",".join(members).encode()).hexdigest()[:10].upper()
            existed = channel_id in self.channels
            if not existed:
                self.channels[channel_id] = Channel(
                    channel_id,
                    "mpdm-" + "--".join(members),
                    is_private=True,
                    mpim_users=members,
                    team=self._caller_team,
                )
                self.messages.setdefault(channel_id, [])
            channel = self.channels[channel_id]
        result: dict[str, Any] = {
            "channel": self._channel_payload(channel) if return_im else {"id": channel.id}
        }
        if existed:
            result.update(no_op=True, already_open=True)
        return result

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        self._require_for("conversations.info", channel)
        return {"channel": self._channel_payload(channel)}

    def _readable(self, method: str, args: dict[str, Any]) -> Channel:
        channel = self._channel(args.get("channel"))
        self._require_for(method, channel)
        if not channel.is_member and not channel.is_im:
            raise SlackError("not_in_channel")
        return channel

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """The conversation's top-level messages, newest first: replies in threads are
        not in it (they are read with conversations.replies), as in Slack."""
        channel = self._readable("conversations.history", args)
        top = [
            m
            for m in self.messages.get(channel.id, [])
            if not m.deleted and (m.thread_ts is None or m.thread_ts == m.ts)
        ]
        chosen = list(reversed(_between(top, args)))
        limit = _limit(args, default=100, most=999)
        metadata = _truthy(args.get("include_all_metadata"))
        payloads = [self._message_payload(channel, m, metadata=metadata) for m in chosen[:limit]]
        return {"messages": payloads, "has_more": len(chosen) > limit, "pin_count": 0}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """The thread of ``ts`` (its parent, or any message in it; an unthreaded message
        is a thread of one), oldest first, within ``oldest``/``latest``. As in Slack,
        the parent comes first whatever the range."""
        channel = self._readable("conversations.replies", args)
        ts = _as_str(args.get("ts"))
        if ts is None:
            raise SlackError("thread_not_found", [_problem("missing required field: ts", "/ts")])
        try:
            named = self._find_message(channel, ts)
        except SlackError:
            raise SlackError("thread_not_found") from None
        root = named.thread_ts or named.ts
        parent = self._find_message(channel, root) if root != named.ts else named
        replies = [
            m
            for m in self.messages.get(channel.id, [])
            if not m.deleted and m.thread_ts == root and m.ts != root
        ]
        chosen = [parent, *(m for m in _between(replies, args) if m is not parent)]
        limit = _limit(args, default=1000, most=1000)
        metadata = _truthy(args.get("include_all_metadata"))
        payloads = [self._message_payload(channel, m, metadata=metadata) for m in chosen[:limit]]
        return {"messages": payloads, "has_more": len(chosen) > limit}

    # ------------------------------------------------------------------ views

    def _view_arg(self, args: dict[str, Any], *, surfaces: tuple[str, ...]) -> dict[str, Any]:
        view = args.get("view")
        if view is None or view == "":
            raise _invalid_arguments("missing required field: view", "/view")
        if isinstance(view, str):
            raise _invalid_arguments("view must be a JSON object", "/view")
        if not isinstance(view, dict):
            raise _invalid_arguments("must provide an object", "/view")
        kind = view.get("type")
        if kind not in surfaces:
            expected = " or ".join(surfaces)
            raise _invalid_arguments(f"view type must be {expected}, got {kind!r}", "/view/type")
        validator = BlockKitValidator(kind, unique_action_ids=self.unique_action_ids)
        validator.view(view)
        if validator.problems:
            raise SlackError("invalid_arguments", validator.problems)
        return view

    def _exchange_trigger(self, args: dict[str, Any]) -> _Trigger:
        trigger_id = _as_str(args.get("trigger_id")) or _as_str(args.get("interactivity_pointer"))
        if trigger_id is None:
            raise _invalid_arguments("missing required field: trigger_id", "/trigger_id")
        trigger = self._triggers.get(trigger_id)
        known = self.users.get(trigger.user) if trigger is not None else None
        if trigger is None or (known is not None and known.team != self._caller_team):
            raise SlackError("invalid_trigger_id")  # issued in another workspace
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.issued_at > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _check_external_id(self, view: dict[str, Any], own_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if external_id is None:
            return
        for other in self.views.values():
            if other.external_id == external_id and other.id != own_id:
                raise SlackError("duplicate_external_id")

    def _new_hash(self) -> str:
        n = next(self._ids)
        return f"{1_700_000_000 + n}.{hashlib.sha1(str(n).encode()).hexdigest()[:8]}"

    def _view_payload(self, view: View) -> dict[str, Any]:
        payload = dict(view.view)
        payload.update(
            id=view.id,
            team_id=self._caller_team,
            type=view.type,
            hash=view.hash,
            private_metadata=view.view.get("private_metadata", ""),
            callback_id=view.view.get("callback_id", ""),
            external_id=view.external_id or "",
            state={"values": {}},
            root_view_id=view.root_view_id,
            previous_view_id=view.previous_view_id,
            app_id=APP_ID,
            app_installed_team_id=self._caller_team,
            bot_id=self._caller.bot_id,
        )
        if view.type == "modal":
            payload.setdefault("clear_on_close", False)
            payload.setdefault("notify_on_close", False)
        return payload

    def _store_view(self, user: str, data: dict[str, Any], **links: str | None) -> View:
        view_id = self._new_id("V")
        view = View(
            id=view_id,
            user=user,
            type=data["type"],
            view=data,
            hash=self._new_hash(),
            external_id=data.get("external_id"),
            root_view_id=links.get("root_view_id") or view_id,
            previous_view_id=links.get("previous_view_id"),
        )
        self.views[view_id] = view
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        data = self._view_arg(args, surfaces=("modal",))
        self._check_external_id(data)
        trigger = self._exchange_trigger(args)
        view = self._store_view(trigger.user, data)
        self._modal_stacks[trigger.user] = [view.id]
        return {"view": self._view_payload(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        data = self._view_arg(args, surfaces=("modal",))
        self._check_external_id(data)
        trigger_id = _as_str(args.get("trigger_id")) or _as_str(args.get("interactivity_pointer"))
        trigger = self._triggers.get(trigger_id or "")
        if (
            trigger is not None
            and len(self._modal_stacks.get(trigger.user, [])) >= MODAL_STACK_LIMIT
        ):
            raise SlackError("push_limit_reached")
        trigger = self._exchange_trigger(args)
        stack = self._modal_stacks.setdefault(trigger.user, [])
        root = stack[0] if stack else None
        previous = stack[-1] if stack else None
        view = self._store_view(trigger.user, data, root_view_id=root, previous_view_id=previous)
        stack.append(view.id)
        return {"view": self._view_payload(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = _as_str(args.get("view_id")), _as_str(args.get("external_id"))
        if view_id is None and external_id is None:
            raise _invalid_arguments("missing required field: view_id or external_id", "/view_id")
        if view_id is not None:
            view = self.views.get(view_id)
        else:
            view = next((v for v in self.views.values() if v.external_id == external_id), None)
        if view is None:
            raise SlackError("not_found")
        data = self._view_arg(args, surfaces=(view.type,))
        self._check_external_id(data, own_id=view.id)
        expected = _as_str(args.get("hash"))
        if expected is not None and expected != view.hash:
            raise SlackError("hash_conflict")
        view.view = data
        view.external_id = data.get("external_id", view.external_id)
        view.hash = self._new_hash()
        if view.type == "home":
            self.home_views[view.user] = data
        return {"view": self._view_payload(view)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _as_str(args.get("user_id"))
        if user_id is None:
            raise _invalid_arguments("missing required field: user_id", "/user_id")
        data = self._view_arg(args, surfaces=("home",))
        self._user(user_id)
        current = next(
            (v for v in self.views.values() if v.type == "home" and v.user == user_id), None
        )
        expected = _as_str(args.get("hash"))
        if current is not None and expected is not None and expected != current.hash:
            raise SlackError("hash_conflict")
        if current is None:
            current = self._store_view(user_id, data)
        else:
            current.view = data
            current.external_id = data.get("external_id")
            current.hash = self._new_hash()
        self.home_views[user_id] = data
        return {"view": self._view_payload(current)}

    # ------------------------------------------------------------------ users, reactions

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user"))
        return {
            "user": self._user_payload(user, include_locale=_truthy(args.get("include_locale")))
        }

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = _as_str(args.get("email"))
        if email is None:
            raise _invalid_arguments("missing required field: email", "/email")
        for user in self.users.values():
            if user.team != self._caller_team:
                continue  # only the caller's workspace is searched
            if user.email is not None and user.email.lower() == email.lower():
                return {"user": self._user_payload(user, include_locale=False)}
        raise SlackError("users_not_found")

    def _reaction_target(self, args: dict[str, Any]) -> tuple[Message, str]:
        channel = self._writable_channel(args.get("channel"))
        if _as_str(args.get("timestamp")) is None:
            raise SlackError("no_item_specified")
        message = self._find_message(channel, args.get("timestamp"))
        name = _as_str(args.get("name"))
        if name is None or name.startswith(":") or name.endswith(":") or re.search(r"\s", name):
            raise SlackError("invalid_name")
        return message, name

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.setdefault(name, [])
        if self._caller.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self._caller.bot_user_id)
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.get(name, [])
        if self._caller.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(self._caller.bot_user_id)
        if not users:
            del message.reactions[name]
        return {}

    # ------------------------------------------------------------------ files (files_upload_v2)

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = _as_str(args.get("filename"))
        if filename is None:
            raise _invalid_arguments("missing required field: filename", "/filename")
        length = _as_str(args.get("length"))
        if length is None:
            raise _invalid_arguments("missing required field: length", "/length")
        if not length.isdigit() or int(length) < 1:
            raise _invalid_arguments("length must be a positive integer", "/length")
        file_id = self._new_id("F")
        self.files[file_id] = UploadedFile(
            id=file_id,
            filename=filename,
            length=int(length),
            alt_txt=_as_str(args.get("alt_txt")),
            snippet_type=_as_str(args.get("snippet_type")),
            team=self._caller_team,
        )
        return {"upload_url": f"{self._base}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if items is None or items == "":
            raise _invalid_arguments("missing required field: files", "/files")
        if not isinstance(items, list) or not items:
            raise _invalid_arguments("files must be a non-empty JSON array", "/files")
        files: list[UploadedFile] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not _present(item.get("id")):
                raise _invalid_arguments("missing required field: id", f"/files/{i}")
            file = self.files.get(str(item["id"]))
            if file is None or file.completed or file.team != self._caller_team:
                raise SlackError(
                    "file_not_found", [_problem(f"unknown file {item['id']}", f"/files/{i}")]
                )
            if file.content is None:
                raise SlackError(
                    "file_not_found",
                    [_problem(f"no bytes were uploaded for {file.id}", f"/files/{i}")],
                )
            files.append(file)
        channel_ids = _split_ids(args.get("channels"))
        if _present(args.get("channel_id")):
            channel_ids = [str(args["channel_id"]), *channel_ids]
        thread_ts = _as_str(args.get("thread_ts"))
        if thread_ts is not None and not channel_ids:
            raise _invalid_arguments("thread_ts requires channel_id", "/thread_ts")
        channels = [self._writable_channel(c) for c in channel_ids]
        for item, file in zip(items, files, strict=True):
            file.title = _as_str(item.get("title")) or file.title or file.filename
            file.completed = True
            file.channels = [c.id for c in channels]
            file.channel_id = channels[0].id if channels else None
            file.thread_ts = thread_ts
            file.initial_comment = _as_str(args.get("initial_comment"))
        for channel in channels:  # Slack shares the files as one message
            message = Message(
                ts=self._next_ts(),
                text=_as_str(args.get("initial_comment")) or "",
                thread_ts=thread_ts,
                user=self._caller.bot_user_id,
                files=[f.id for f in files],
            )
            self.messages.setdefault(channel.id, []).append(message)
        bot = self._caller.bot_user_id
        return {
            "files": [
                {
                    "id": f.id,
                    "name": f.filename,
                    "title": f.title,
                    "size": f.length,
                    "user": bot,
                    "channels": f.channels,
                    "permalink": f"{PERMALINK_BASE}/files/{bot}/{f.id}/{f.filename}",
                }
                for f in files
            ]
        }
