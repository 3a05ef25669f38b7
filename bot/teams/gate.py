"""Who and what may come in at POST /api/messages, checked before the bot sees it.

Two questions, answered before anything is stored or any call goes out:

* Is the activity shaped the way the bot reads it? (`shape_problem`) Bot Framework's
  own deserializer turns a number into a string and leaves a missing `from` as None,
  so a malformed activity would otherwise fail half-way through a turn.
* In local mode (no credentials, the Agents Playground): is the caller this machine,
  and does the activity ask us to answer on this machine? (`is_loopback_address`,
  `is_loopback_url`) Without a token nothing vouches for an activity's `serviceUrl`,
  and the bot writes replies, reads rosters and keeps conversation references there.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# The one invoke the bot answers (Action.Execute on its cards); Teams sends no other
# to an app whose cards and manifest use nothing else.
CARD_ACTION_INVOKE = "adaptiveCard/action"

# Ids become database keys (String(200)); an activity id is stored as "teams:<id>".
Id = Annotated[str, Field(min_length=1, max_length=190)]
Text = Annotated[str, Field(max_length=200)]


class _Strict(BaseModel):
    # strict: a number is not a string here; extra: Teams sends much we do not read.
    model_config = ConfigDict(strict=True, extra="allow")


class _Account(_Strict):
    id: Id
    name: Annotated[str, Field(max_length=256)] | None = None
    aadObjectId: Text | None = None


class _Conversation(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=400)]
    conversationType: Text | None = None
    tenantId: Text | None = None
    isGroup: bool | None = None

    @field_validator("id")
    @classmethod
    def _channel_fits(cls, value: str) -> str:
        # A channel is remembered by its id, the part before ";messageid=".
        if len(value.partition(";messageid=")[0]) > 200:
            raise ValueError("the channel id is longer than 200 characters")
        return value


class _Ref(_Strict):
    id: Text | None = None
    name: str | None = None


class _ChannelData(_Strict):
    tenant: _Ref | None = None
    channel: _Ref | None = None
    team: _Ref | None = None
    eventType: str | None = None


class _Entity(_Strict):
    type: str
    mentioned: _Account | None = None
    text: str | None = None


class _Reaction(_Strict):
    type: str


class _CardAction(_Strict):
    verb: str | None = None
    data: dict[str, Any] | None = None


class _CardInvoke(_Strict):
    action: _CardAction


class _Activity(_Strict):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    id: Id
    channelId: Literal["msteams"]
    serviceUrl: Annotated[str, Field(min_length=1, max_length=2048)]
    from_: _Account = Field(alias="from")
    recipient: _Account
    conversation: _Conversation
    channelData: _ChannelData | None = None
    text: str | None = None
    locale: str | None = None
    localTimezone: str | None = None
    replyToId: Text | None = None
    name: str | None = None
    action: str | None = None
    value: Any = None
    entities: list[_Entity] | None = None
    attachments: list[dict[str, Any]] | None = None
    membersAdded: list[_Account] | None = None
    membersRemoved: list[_Account] | None = None
    reactionsAdded: list[_Reaction] | None = None
    reactionsRemoved: list[_Reaction] | None = None

    @model_validator(mode="after")
    def _value_fits_the_type(self) -> _Activity:
        if self.type == "message" and self.value is not None and not isinstance(self.value, dict):
            raise ValueError("a card submission's value must be an object")
        if self.type == "invoke":
            if self.name != CARD_ACTION_INVOKE:
                raise ValueError(f"only the {CARD_ACTION_INVOKE} invoke is supported")
            _CardInvoke.model_validate(self.value)
        return self


def shape_problem(payload: Any) -> str | None:
    """Why this JSON is not an activity the bot can handle, or None when it is."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    try:
        _Activity.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "activity"
        return f"{where}: {first['msg']}"
    return None


def is_loopback_address(remote: str | None) -> bool:
    """The peer of a TCP connection is this machine (127.0.0.0/8, ::1, or an
    IPv4-mapped 127.x). A missing or unparsable peer is not."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


# Only characters a plain http://host:port/path needs. Anything else (userinfo "@",
# "\", "{", "?", "#", spaces, %-escapes in the host) is where URL parsers disagree,
# and the parser that decides is the HTTP client's, not this one.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\[\]:]+(/[A-Za-z0-9._~\-/%]*)?", re.IGNORECASE)


def is_loopback_url(url: str) -> bool:
    """An http(s) URL whose host is `localhost` or a loopback address literal.
    Names are not resolved: a name that resolves to 127.0.0.1 today may not tomorrow."""
    if not _PLAIN_URL.fullmatch(url):
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if host is None:
        return False
    return host == "localhost" or is_loopback_address(host)
