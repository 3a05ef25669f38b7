"""A local fake of the Bot Framework Connector service for tests.

``FakeConnector`` is an aiohttp server on 127.0.0.1 that plays the REST API a bot
calls at an activity's ``serviceUrl`` (``/v3/conversations/...``, ``/v3/teams/...``).
Point the product's botbuilder ``CloudAdapter`` at it by posting activities whose
``serviceUrl`` is ``fake.url``; with an empty ``APP_ID`` the adapter sends no
``Authorization`` header and never asks Entra ID for a token, so nothing leaves
127.0.0.1.

Typical use::

    async with FakeConnector() as connector:
        connector.add_member("aad-1", name="Ana", email="ana@example.com")
        ...  # POST an activity with serviceUrl=connector.url to the bot
        await connector.wait_for(lambda: connector.sent)
        assert connector.sent[0].op == "reply"
        assert connector.activities_in("a:1xyz")[0]["text"] == "echo: hi"

The server runs on its own event loop in a background thread. That is on
purpose: botbuilder's ``TeamsInfo.get_team_details`` / ``get_team_channels``
use the *synchronous* ``TeamsConnectorClient`` (``requests``) and block the
calling event loop, so a server on the test's own loop would deadlock. Every
record (``sent``, ``requests``, ...) is appended whole, under a lock; read them
from the test after the call that caused them returned, or use ``wait_for``.

What the fake answers (``conversationId``/``activityId``/``memberId``/``teamId``
path segments are URL-decoded, so ``19%3Aabc%40thread.tacv2%3Bmessageid%3D1`` is
``19:abc@thread.tacv2;messageid=1``; an optional path prefix before ``/v3`` -
like Teams' ``/amer/`` - is ignored):

* ``POST /v3/conversations/{c}/activities`` (send) and
  ``POST /v3/conversations/{c}/activities/{a}`` (reply): 201 ``{"id": new id}``;
* ``PUT /v3/conversations/{c}/activities/{a}`` (update): 200 ``{"id": a}``, 404
  for an activity the bot never sent; ``DELETE`` likewise (200, or 404);
* ``POST /v3/conversations`` (create): a 1:1 chat needs a tenant id (top-level
  ``tenantId`` in any case - botbuilder-python sends ``tenantID`` - or
  ``channelData.tenant.id``) and exactly one member, and answers 201 ``{"id":
  "a:1..."}`` - the same id again for the same tenant and member, as Teams does;
  a channel post (``isGroup`` with ``channelData.channel.id``) needs an
  ``activity`` and answers ``{"id": "<channel>;messageid=<id>", "activityId":
  "<id>"}``;
* ``GET /v3/conversations/{c}/members[/{m}]``, ``/pagedmembers``,
  ``/activities/{a}/members``: the roster built with ``add_member`` (one roster
  for every conversation); a member is found by its ``id`` or its AAD object id,
  otherwise 404 ``MemberNotFoundInConversation``;
* ``GET /v3/teams/{t}`` and ``/v3/teams/{t}/conversations``: teams built with
  ``add_team`` (the General channel has the team's id and a null name).

Activities are validated as the service does: a ``type`` is required; a message
needs ``text`` or ``attachments``; an Adaptive Card needs contentType
``application/vnd.microsoft.card.adaptive`` and content with ``type:
"AdaptiveCard"``, a ``version`` and list-valued ``body``/``actions``; text plus
attachments must fit in 28 KB (413 ``MessageSizeTooBig``). Errors have the
connector's shape ``{"error": {"code": "BadArgument", "message": "..."}}``, which
botbuilder raises as ``ErrorResponseException`` (``e.response.status_code``,
``e.response.headers``, ``e.error.error.code``).

``FakeConnector(authorize=check)`` checks every call's ``Authorization`` header as
the service does in authenticated mode: ``check(header)`` returns why it is refused
(then 401 ``Unauthorized``, noted in ``warnings``) or None; e.g. with
``FakeEntraID.problem`` from tests/fakes/entra_id.py. ``host`` serves on another
of this machine's addresses (a connector "elsewhere").

``ChannelDelivery`` is the other direction: which messages Teams hands to the bot
at all. In a team's channel (or a group chat) a message reaches the bot only when it
@mentions the bot - unless the app's manifest grants the resource-specific consent
``ChannelMessage.Read.Group`` (channels) or ``ChatMessage.Read.Chat`` (group chats),
then every message there does. ``ChannelDelivery.shipped()`` reads the grant from the
manifest the project ships; the test driver asks it before posting what a person
types, as Teams would.

``fail_next`` meets botbuilder's transport retries (urllib3 under msrest): POST
(send, reply, create_conversation) is never retried, so one injected failure is
one exception; GET/PUT/DELETE (get_member, update, delete, ...) are retried up to
3 times on 5xx (except 501/505) and on 429/503 that carry ``Retry-After`` (after
sleeping that long), so ``fail_next("update", status=500)`` is absorbed; after
the retries run out msrest raises ``ClientRequestError``, not
``ErrorResponseException``. Check ``requests_for(op)`` to see every attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.teams.package import MANIFEST, SOURCE
from tests.fakes.polling import wait_or_explain
from tests.fakes.threaded import ServerThread

__all__ = [
    "FAILABLE_OPS",
    "MESSAGE_SIZE_LIMIT",
    "ChannelDelivery",
    "FakeConnector",
    "Member",
    "RecordedRequest",
    "Sent",
    "Team",
]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE_SIZE_LIMIT = 28 * 1024  # Teams' limit for a bot message (text + attachments)
HIGHEST_TEAMS_CARD_VERSION = (1, 5)

FAILABLE_OPS = frozenset(
    {
        "send",
        "reply",
        "update",
        "delete",
        "create_conversation",
        "get_conversations",
        "get_member",
        "get_members",
        "get_paged_members",
        "get_activity_members",
        "delete_member",
        "get_team",
        "get_channels",
    }
)

_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadArgument", "Bad request."),
    401: ("Unauthorized", "Authorization has been denied for this request."),
    403: ("ConversationBlockedByUser", "User blocked the conversation with the bot."),
    404: ("NotFound", "Conversation not found."),
    412: ("PreconditionFailed", "Precondition failed, please try again."),
    413: ("MessageSizeTooBig", "Message size too large."),
    429: ("Throttled", "Too many requests."),
    500: ("ServiceError", "Internal server error."),
    502: ("ServiceError", "Bad gateway."),
    503: ("ServiceUnavailable", "Service unavailable."),
    504: ("GatewayTimeout", "Gateway timeout."),
}


# --------------------------------------------------------------------------- records


@dataclass
class Sent:
    """One activity the bot sent, replied, updated or deleted (accepted requests only)."""

    op: str  # "send" | "reply" | "update" | "delete"
    conversation_id: str
    activity_id: str | None
    activity: dict[str, Any]
    reply_to_id: str | None = None

    @property
    def text(self) -> str | None:
        return self.activity.get("text")

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return self.activity.get("attachments") or []


@dataclass
class RecordedRequest:
    """One HTTP request as it arrived, with the answer the fake gave."""

    method: str
    path: str  # raw path as the client built it (still URL-encoded), without query
    query: dict[str, str]
    json: Any
    headers: dict[str, str] = field(repr=False)
    op: str | None = None  # e.g. "send", "get_member"; None for an unknown endpoint
    params: dict[str, str] = field(default_factory=dict)  # decoded path parameters
    status: int = 0
    response: Any = field(default=None, repr=False)
    at: float = field(default=0.0, repr=False)  # time.monotonic() on arrival


@dataclass
class Member:
    aad_object_id: str
    id: str
    name: str = ""
    email: str | None = None
    user_principal_name: str | None = None
    tenant_id: str = "tenant-1"

    def payload(self) -> dict[str, Any]:
        """The TeamsChannelAccount JSON Teams returns for a member."""
        given, _, surname = self.name.partition(" ")
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "givenName": given or None,
            "surname": surname or None,
            "email": self.email,
            "userPrincipalName": self.user_principal_name,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }


@dataclass
class Team:
    id: str
    name: str
    aad_group_id: str | None = None
    channels: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    code: str
    message: str


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str) -> _ApiError:
    return _ApiError(400, "BadArgument", message)


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _get_ci(obj: Mapping[str, Any], key: str) -> Any:
    """``obj[key]`` matching the key case-insensitively, like the .NET service does."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    return next((v for k, v in obj.items() if k.lower() == lowered), None)


def _base_conversation(conversation_id: str) -> str:
    """``19:x@thread.tacv2;messageid=1`` -> ``19:x@thread.tacv2`` (a thread's channel)."""
    return conversation_id.split(";messageid=", 1)[0]


# --------------------------------------------------------------------------- validation


def _check_activity(activity: Any) -> None:
    if not isinstance(activity, dict):
        raise _bad("The activity must be a JSON object.")
    if not activity.get("type"):
        raise _bad("Activity type is required.")
    if activity["type"] != "message":
        return
    text = activity.get("text")
    attachments = activity.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise _bad("Activity attachments must be an array.")
    if not text and not attachments:
        raise _bad("Message activity must have text or attachments.")
    for index, attachment in enumerate(attachments or []):
        _check_attachment(attachment, f"attachments[{index}]")
    size = len(
        json.dumps(
            {"text": text, "attachments": attachments}, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    if size > MESSAGE_SIZE_LIMIT:
        raise _ApiError(
            413,
            "MessageSizeTooBig",
            f"Message size {size} bytes exceeds the {MESSAGE_SIZE_LIMIT} byte limit.",
        )


def _check_attachment(attachment: Any, where: str) -> None:
    if not isinstance(attachment, dict):
        raise _bad(f"{where} must be an object.")
    content_type = attachment.get("contentType")
    if not content_type or not isinstance(content_type, str):
        raise _bad(f"{where}.contentType is required.")
    content = attachment.get("content")
    looks_adaptive = isinstance(content, dict) and content.get("type") == "AdaptiveCard"
    if content_type != ADAPTIVE_CARD:
        if looks_adaptive:
            raise _bad(
                f"{where}: an AdaptiveCard needs contentType {ADAPTIVE_CARD!r}, "
                f"not {content_type!r}."
            )
        return
    if not isinstance(content, dict):
        raise _bad(f"{where}.content must be an AdaptiveCard object.")
    if content.get("type") != "AdaptiveCard":
        raise _bad(f"{where}.content.type must be 'AdaptiveCard'.")
    version = content.get("version")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        raise _bad(f"{where}.content.version is required (e.g. '1.5').")
    _check_elements(content.get("body"), f"{where}.content.body", actions=False)
    _check_elements(content.get("actions"), f"{where}.content.actions", actions=True)


_CHILD_LISTS = (("items", False), ("columns", False), ("actions", True), ("body", False))


def _check_elements(elements: Any, where: str, *, actions: bool) -> None:
    if elements is None:
        return
    if not isinstance(elements, list):
        raise _bad(f"{where} must be an array.")
    for index, element in enumerate(elements):
        here = f"{where}[{index}]"
        if not isinstance(element, dict):
            raise _bad(f"{here} must be an object.")
        kind = element.get("type")
        if not isinstance(kind, str) or not kind:
            # A ColumnSet's columns may leave out "type": "Column".
            if not where.endswith(".columns"):
                raise _bad(f"{here}.type is required.")
        elif actions and not kind.startswith("Action."):
            raise _bad(f"{here}.type {kind!r} is not an action.")
        for key, child_actions in _CHILD_LISTS:
            if key in element:
                _check_elements(element[key], f"{here}.{key}", actions=child_actions)
        if isinstance(element.get("card"), dict):  # Action.ShowCard
            _check_elements(element["card"].get("body"), f"{here}.card.body", actions=False)


def _card_versions(activity: dict[str, Any]) -> Iterable[str]:
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, dict) and attachment.get("contentType") == ADAPTIVE_CARD:
            version = (attachment.get("content") or {}).get("version")
            if isinstance(version, str):
                yield version


# --------------------------------------------------------------------------- delivery

# Resource-specific consent that makes Teams deliver every message, not only those
# that @mention the bot, by the kind of conversation it grants it for.
_READ_ALL = {"channel": "ChannelMessage.Read.Group", "groupChat": "ChatMessage.Read.Chat"}


@dataclass(frozen=True)
class ChannelDelivery:
    """Which messages Teams delivers to the bot, by what the app's manifest grants.

    Teams' rules: a personal chat with the bot is delivered whole, and so is every
    card action and non-message activity; in a channel or a group chat a message
    is delivered only when it @mentions the bot (a ``mention`` entity for the bot
    whose ``<at>…</at>`` text is in the message), unless the app holds the
    resource-specific consent for that kind of conversation. The consent counts
    only as Teams reads it: in ``authorization.permissions.resourceSpecific`` of a
    manifest version 1.12 or later, of type ``Application``, with the Entra app id
    in ``webApplicationInfo.id`` (the consent is given to that app).
    """

    granted: frozenset[str] = frozenset()

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> ChannelDelivery:
        version = str(manifest.get("manifestVersion") or "0")
        major, _, minor = version.partition(".")
        modern = major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (1, 12)
        app = (manifest.get("webApplicationInfo") or {}).get("id")
        permissions = (manifest.get("authorization") or {}).get("permissions") or {}
        granted = {
            str(entry.get("name"))
            for entry in permissions.get("resourceSpecific") or []
            if isinstance(entry, dict) and entry.get("type") == "Application"
        }
        return cls(frozenset(granted) if modern and app else frozenset())

    @classmethod
    def shipped(cls) -> ChannelDelivery:
        """As the manifest in the project's Teams app package grants it."""
        return cls.from_manifest(json.loads((SOURCE / MANIFEST).read_text(encoding="utf-8")))

    def delivers(self, activity: Mapping[str, Any]) -> bool:
        if activity.get("type") != "message" or activity.get("value") is not None:
            return True  # installs, reactions, card actions: always delivered
        kind = (activity.get("conversation") or {}).get("conversationType") or "personal"
        if kind == "personal":
            return True
        if _READ_ALL.get(kind) in self.granted:
            return True
        return self.mentions_bot(activity)

    @staticmethod
    def mentions_bot(activity: Mapping[str, Any]) -> bool:
        bot = (activity.get("recipient") or {}).get("id")
        text = activity.get("text") or ""
        return any(
            isinstance(entity, dict)
            and entity.get("type") == "mention"
            and (entity.get("mentioned") or {}).get("id") == bot
            and bool(entity.get("text"))
            and str(entity["text"]) in text
            for entity in activity.get("entities") or []
        )


# --------------------------------------------------------------------------- the fake


class FakeConnector:
    """A Bot Framework Connector (Teams flavour) on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        shutdown_timeout: float = 1.0,
        authorize: Callable[[str | None], str | None] | None = None,
    ) -> None:
        # Another host (one of this machine's non-loopback addresses) plays a
        # connector "elsewhere", e.g. an attacker's server an activity points to.
        self._host = host
        # authorize(Authorization header) -> why it is refused, or None: the real
        # service answers 401 to a call without a valid bot token. None = no check
        # (the Agents Playground's local mode).
        self._authorize = authorize
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._lock = threading.RLock()
        self._server: ServerThread | None = None
        self._ids = itertools.count(int(time.time() * 1000))

        self.sent: list[Sent] = []
        self.requests: list[RecordedRequest] = []
        self.conversations: dict[str, dict[str, Any]] = {}
        self.members: dict[str, Member] = {}  # by aad object id
        self.teams: dict[str, Team] = {}
        self.warnings: list[str] = []
        self._activities: dict[str, list[dict[str, Any]]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        # answer_delay[op] = seconds: the call takes effect at once and its answer
        # comes back that much later, the window in which a bot can die with an
        # activity in the conversation that it never heard about.
        self.answer_delay: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeConnector is not started")
        return f"http://{self._host}:{self._port}/"

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FakeConnector already started")
        server = ServerThread("fake-bot-connector")
        await server.start(self._start)
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> FakeConnector:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _start(self) -> Callable[[], Awaitable[None]]:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        return runner.cleanup

    # ------------------------------------------------------------------ set-up

    def add_member(
        self,
        aad_object_id: str,
        *,
        id: str | None = None,
        name: str = "",
        email: str | None = None,
        user_principal_name: str | None = None,
        tenant_id: str = "tenant-1",
    ) -> None:
        """Put a person on the roster every conversation answers with."""
        member = Member(
            aad_object_id=aad_object_id,
            id=id or f"29:{aad_object_id}",
            name=name,
            email=email,
            user_principal_name=user_principal_name,
            tenant_id=tenant_id,
        )
        with self._lock:
            self.members[aad_object_id] = member

    def add_team(
        self,
        team_id: str,
        *,
        name: str = "",
        aad_group_id: str | None = None,
        channels: Mapping[str, str] | None = None,
    ) -> None:
        """A team for ``TeamsInfo.get_team_details``/``get_team_channels``.

        The General channel (id == ``team_id``, null name) is always listed first;
        ``channels`` maps further channel ids to names.
        """
        listed: list[tuple[str, str | None]] = [(team_id, None)]
        listed += [(cid, cname) for cid, cname in (channels or {}).items() if cid != team_id]
        with self._lock:
            self.teams[team_id] = Team(team_id, name, aad_group_id, listed)

    def fail_next(
        self,
        op: str,
        *,
        status: int,
        retry_after: int | None = None,
        times: int = 1,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests for ``op`` with an error.

        ``op`` is one of ``FAILABLE_OPS``. ``retry_after`` adds a ``Retry-After``
        header (seconds). ``code``/``message`` default per status, e.g. 403 ->
        ``ConversationBlockedByUser``, 429 -> ``Throttled``, 500 -> ``ServiceError``.
        """
        if op not in FAILABLE_OPS:
            raise ValueError(f"unknown op {op!r}; expected one of {sorted(FAILABLE_OPS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        default_code, default_message = _DEFAULT_ERRORS.get(status, ("Error", "Error."))
        failure = _Failure(status, retry_after, code or default_code, message or default_message)
        with self._lock:
            self._failures.setdefault(op, []).extend([failure] * times)

    # ------------------------------------------------------------------ reading

    def activities_in(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation as it stands: the bot's activities in first-send order,
        updates applied in place, deleted ones gone. Each dict carries its ``id``."""
        with self._lock:
            return [dict(a) for a in self._activities.get(conversation_id, [])]

    def sent_to(self, conversation_id: str, op: str | None = None) -> list[Sent]:
        with self._lock:
            return [
                s
                for s in self.sent
                if s.conversation_id == conversation_id and (op is None or s.op == op)
            ]

    def requests_for(self, op: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.op == op]

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fake's documented API
    ) -> None:
        """Poll ``predicate`` until it is truthy; AssertionError after ``timeout`` seconds."""
        await wait_or_explain(predicate, timeout, self._recent)

    def _recent(self) -> str:
        with self._lock:
            recent = "\n  ".join(
                f"{r.method} {r.path} ({r.op}) -> {r.status}" for r in self.requests[-10:]
            )
            total = len(self.requests)
        return f"last requests ({total} in all):\n  {recent or '(none)'}"

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        body_bytes = await request.read()
        record = RecordedRequest(
            method=request.method,
            path=raw_path,
            query=dict(request.rel_url.query),
            json=None,
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(record)
        try:
            if body_bytes:
                try:
                    record.json = json.loads(body_bytes)
                except ValueError as error:
                    raise _bad(f"The request body is not valid JSON: {error}") from None
            route = self._route(request.method, raw_path)
            if route is None:
                raise _ApiError(
                    404, "NotFound", f"FakeConnector: no endpoint {request.method} {raw_path}"
                )
            op, params, handler = route
            record.op, record.params = op, params
            if self._authorize is not None:
                refused = self._authorize(request.headers.get("Authorization"))
                if refused is not None:
                    with self._lock:
                        self.warnings.append(f"401 for {op}: {refused}")
                    raise _ApiError(
                        401, "Unauthorized", "Authorization has been denied for this request."
                    )
            with self._lock:
                queue = self._failures.get(op)
                failure = queue.pop(0) if queue else None
            if failure is not None:
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                return self._answer(
                    record,
                    failure.status,
                    _error_body(failure.code, failure.message),
                    headers=headers,
                )
            with self._lock:
                status, payload = handler(params, record.json, record.query)
            delay = self.answer_delay.get(op)
            if delay:
                await asyncio.sleep(delay)
            return self._answer(record, status, payload)
        except _ApiError as error:
            return self._answer(record, error.status, _error_body(error.code, error.message))

    @staticmethod
    def _answer(
        record: RecordedRequest,
        status: int,
        payload: Any,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        record.status, record.response = status, payload
        if payload is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _route(
        self, method: str, raw_path: str
    ) -> tuple[str, dict[str, str], Callable[..., tuple[int, Any]]] | None:
        parts = [unquote(p) for p in raw_path.split("/")[1:]]
        if parts and parts[-1] == "":
            parts.pop()
        # Ignore a prefix before the API version (Teams' service URLs have one).
        start = next((i for i, p in enumerate(parts) if p == "v3"), None)
        if start is None:
            return None
        p = parts[start + 1 :]
        n = len(p)
        if n >= 1 and p[0] == "conversations":
            if n == 1:
                return {
                    "POST": ("create_conversation", {}, self._create_conversation),
                    "GET": ("get_conversations", {}, self._get_conversations),
                }.get(method)
            conversation = {"conversation_id": p[1]}
            if n == 3 and p[2] == "activities" and method == "POST":
                return "send", conversation, self._send
            if n == 4 and p[2] == "activities":
                params = {**conversation, "activity_id": p[3]}
                return {
                    "POST": ("reply", params, self._reply),
                    "PUT": ("update", params, self._update),
                    "DELETE": ("delete", params, self._delete),
                }.get(method)
            if n == 5 and p[2] == "activities" and p[4] == "members" and method == "GET":
                params = {**conversation, "activity_id": p[3]}
                return "get_activity_members", params, self._get_members
            if n == 3 and p[2] == "members" and method == "GET":
                return "get_members", conversation, self._get_members
            if n == 3 and p[2] == "pagedmembers" and method == "GET":
                return "get_paged_members", conversation, self._get_paged_members
            if n == 4 and p[2] == "members":
                params = {**conversation, "member_id": p[3]}
                return {
                    "GET": ("get_member", params, self._get_member),
                    "DELETE": ("delete_member", params, self._delete_member),
                }.get(method)
            return None
        if n >= 2 and p[0] == "teams" and method == "GET":
            team = {"team_id": p[1]}
            if n == 2:
                return "get_team", team, self._get_team
            if n == 3 and p[2] == "conversations":
                return "get_channels", team, self._get_channels
        return None

    # ------------------------------------------------------------------ activities

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _store(self, conversation_id: str, activity_id: str, activity: dict[str, Any]) -> None:
        stored = dict(activity)
        stored["id"] = activity_id
        self._activities.setdefault(conversation_id, []).append(stored)
        for version in _card_versions(activity):
            major, _, minor = version.partition(".")
            if (int(major), int(minor)) > HIGHEST_TEAMS_CARD_VERSION:
                self.warnings.append(
                    f"Adaptive Card version {version} in {conversation_id}: Teams renders "
                    "at most 1.5 and shows a fallback for newer cards"
                )

    def _find(self, conversation_id: str, activity_id: str) -> tuple[str, int] | None:
        """Where an activity lives: the exact conversation, else any thread of its channel."""
        candidates = [conversation_id] + [
            c
            for c in self._activities
            if c != conversation_id and _base_conversation(c) == _base_conversation(conversation_id)
        ]
        for candidate in candidates:
            for index, activity in enumerate(self._activities.get(candidate, [])):
                if activity.get("id") == activity_id:
                    return candidate, index
        return None

    def _send(self, params: dict[str, str], body: Any, _query: dict[str, str]) -> tuple[int, Any]:
        _check_activity(body)
        conversation_id = params["conversation_id"]
        activity_id = self._new_id()
        self._store(conversation_id, activity_id, body)
        self.sent.append(Sent("send", conversation_id, activity_id, body, body.get("replyToId")))
        return 201, {"id": activity_id}

    def _reply(self, params: dict[str, str], body: Any, _query: dict[str, str]) -> tuple[int, Any]:
        # Teams accepts a reply to any id (in a 1:1 chat the replyToId is ignored),
        # so the activity replied to need not be one the fake knows.
        _check_activity(body)
        conversation_id = params["conversation_id"]
        activity_id = self._new_id()
        self._store(conversation_id, activity_id, body)
        self.sent.append(Sent("reply", conversation_id, activity_id, body, params["activity_id"]))
        return 201, {"id": activity_id}

    def _update(self, params: dict[str, str], body: Any, _query: dict[str, str]) -> tuple[int, Any]:
        _check_activity(body)
        conversation_id, activity_id = params["conversation_id"], params["activity_id"]
        found = self._find(conversation_id, activity_id)
        if found is None:
            raise _ApiError(
                404,
                "NotFound",
                f"Activity {activity_id} not found in conversation {conversation_id}.",
            )
        where, index = found
        updated = dict(body)
        updated["id"] = activity_id
        self._activities[where][index] = updated
        self.sent.append(Sent("update", conversation_id, activity_id, body, body.get("replyToId")))
        return 200, {"id": activity_id}

    def _delete(
        self, params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        conversation_id, activity_id = params["conversation_id"], params["activity_id"]
        found = self._find(conversation_id, activity_id)
        if found is None:
            raise _ApiError(
                404,
                "NotFound",
                f"Activity {activity_id} not found in conversation {conversation_id}.",
            )
        where, index = found
        del self._activities[where][index]
        self.sent.append(Sent("delete", conversation_id, activity_id, {}, None))
        return 200, None

    # ------------------------------------------------------------------ conversations

    def _create_conversation(
        self, _params: dict[str, str], body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _bad("ConversationParameters must be a JSON object.")
        channel_data = body.get("channelData") or {}
        if not isinstance(channel_data, dict):
            raise _bad("channelData must be an object.")
        # botbuilder-python serializes ConversationParameters.tenant_id as "tenantID";
        # the service (.NET) matches property names case-insensitively, so does this.
        tenant_id = _get_ci(body, "tenantId") or (channel_data.get("tenant") or {}).get("id")
        channel_id = (channel_data.get("channel") or {}).get("id")
        activity = body.get("activity")
        if activity is not None:
            _check_activity(activity)

        if body.get("isGroup"):
            if not channel_id:
                raise _bad(
                    "Creating a group chat is not supported; a channel post needs "
                    "channelData.channel.id."
                )
            if activity is None:
                raise _bad("An activity is required to start a conversation in a channel.")
            activity_id = self._new_id()
            conversation_id = f"{channel_id};messageid={activity_id}"
            self.conversations[conversation_id] = body
            self._store(conversation_id, activity_id, activity)
            self.sent.append(Sent("send", conversation_id, activity_id, activity, None))
            return 201, {"id": conversation_id, "activityId": activity_id}

        if not tenant_id:
            raise _bad("A tenant id is required (tenantId or channelData.tenant.id).")
        members = body.get("members")
        if not isinstance(members, list) or len(members) != 1:
            raise _bad("A one-on-one conversation needs exactly one member.")
        member_id = (members[0] or {}).get("id") if isinstance(members[0], dict) else None
        if not member_id:
            raise _bad("members[0].id is required.")
        known = self._member(member_id)
        key = f"{tenant_id}|{known.id if known else member_id}"
        conversation_id = "a:1" + hashlib.sha256(key.encode()).hexdigest()[:40]
        self.conversations[conversation_id] = body
        answer: dict[str, Any] = {"id": conversation_id}
        if activity is not None:
            activity_id = self._new_id()
            self._store(conversation_id, activity_id, activity)
            self.sent.append(Sent("send", conversation_id, activity_id, activity, None))
            answer["activityId"] = activity_id
        return 201, answer

    def _get_conversations(
        self, _params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        conversations = [
            {"id": cid, "members": params.get("members") or []}
            for cid, params in self.conversations.items()
        ]
        return 200, {"conversations": conversations, "continuationToken": None}

    # ------------------------------------------------------------------ members & teams

    def _member(self, member_id: str) -> Member | None:
        member = self.members.get(member_id)
        if member is not None:
            return member
        return next(
            (m for m in self.members.values() if member_id in (m.id, f"8:orgid:{m.aad_object_id}")),
            None,
        )

    def _get_member(
        self, params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        member = self._member(params["member_id"])
        if member is None:
            raise _ApiError(
                404, "MemberNotFoundInConversation", "The member is not part of the conversation."
            )
        return 200, member.payload()

    def _delete_member(
        self, params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        member = self._member(params["member_id"])
        if member is None:
            raise _ApiError(
                404, "MemberNotFoundInConversation", "The member is not part of the conversation."
            )
        del self.members[member.aad_object_id]
        return 200, None

    def _get_members(
        self, _params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        return 200, [m.payload() for m in self.members.values()]

    def _get_paged_members(
        self, _params: dict[str, str], _body: Any, query: dict[str, str]
    ) -> tuple[int, Any]:
        try:
            page_size = int(query.get("pageSize") or 200)
            offset = int(query.get("continuationToken") or 0)
        except ValueError:
            raise _bad("pageSize and continuationToken must be numbers here.") from None
        if page_size < 1:
            raise _bad("pageSize must be positive.")
        everyone = [m.payload() for m in self.members.values()]
        page = everyone[offset : offset + page_size]
        more = offset + page_size < len(everyone)
        return 200, {
            "members": page,
            "continuationToken": str(offset + page_size) if more else None,
        }

    def _team(self, team_id: str) -> Team:
        team = self.teams.get(team_id)
        if team is None:
            raise _ApiError(404, "NotFound", f"Team {team_id} not found.")
        return team

    def _get_team(
        self, params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        team = self._team(params["team_id"])
        return 200, {
            "id": team.id,
            "name": team.name,
            "aadGroupId": team.aad_group_id,
            "channelCount": len(team.channels),
            "memberCount": len(self.members),
            "type": "standard",
        }

    def _get_channels(
        self, params: dict[str, str], _body: Any, _query: dict[str, str]
    ) -> tuple[int, Any]:
        team = self._team(params["team_id"])
        return 200, {"conversations": [{"id": cid, "name": name} for cid, name in team.channels]}
