"""What each Slack payload must carry, read once at the listener's door.

A valid signature says Slack sent a payload, not that it has every field a
listener needs, in the type it needs (an old button, a changed payload shape, a
bug on either side, a leaked signing secret). So each listener reads its payload
through one model here instead of `body["..."]` here and there: what does not
fit is `Malformed`, raised before anything is stored, and answered in one place
(bot.slack.gate) with what the person should be told. Nothing fails half-way, or
after the acknowledgement where nobody hears of it.

The outer shape Bolt itself routes on is checked before that, at the door
(bot.slack.gate).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Json,
    StringConstraints,
    ValidationError,
    model_validator,
)

from models.i18n import N_
from models.inbox import DELIVERY_KEY_MAX, REPLY_ADDRESS_MAX

# What the person is told, by what could not be read (translated when said).
UNREADABLE = N_("That could not be read, so nothing was done. Please try again.")
STALE_BUTTON = N_("That button is not valid any more, so nothing was changed.")
STALE_RATING = N_("That rating button is not valid any more, so nothing was changed.")
STALE_FORM = N_("That form could not be read, so nothing was saved. Please open it again.")


class Malformed(Exception):
    """A signed payload without what its listener needs. `say` is the message id
    of what the sender is told, when the payload says who they are."""

    def __init__(self, problem: str, say: str = UNREADABLE) -> None:
        super().__init__(problem)
        self.say = say


def _storable(value: str) -> str:
    # JSON can carry lone surrogates ("\udcff"), which no database, log line or
    # HTTP body can hold as UTF-8; PostgreSQL refuses NUL in text.
    value.encode("utf-8")  # UnicodeEncodeError is a ValueError: a validation error
    if "\x00" in value:
        raise ValueError("text with a NUL character")
    return value


def _web_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("not a web address")
    return value


def _empty_is_none(value: Any) -> Any:
    # Slack sends "" for a modal's unset private_metadata.
    return "null" if value == "" else value


Text = Annotated[str, AfterValidator(_storable)]
# Users, channels, workspaces, views: Slack ids are short upper-case codes.
SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,32}$")]
# One-off tokens Slack hands out: trigger ids, message timestamps, event ids.
Token = Annotated[
    str, StringConstraints(min_length=1, max_length=DELIVERY_KEY_MAX), AfterValidator(_storable)
]
# What a button carries: a request key, a team key, an option.
Value = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)]
WebAddress = Annotated[
    str,
    StringConstraints(min_length=1, max_length=REPLY_ADDRESS_MAX),
    AfterValidator(_storable),
    AfterValidator(_web_address),
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Someone(_Shape):
    id: SlackId


M = TypeVar("M", bound=BaseModel)


def read(model: type[M], body: Any, say: str = UNREADABLE) -> M:
    """The payload as `model`, or `Malformed` naming what is missing or wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        # Where, not what: the values may be large, or personal.
        where = sorted({".".join(str(step) for step in e["loc"]) for e in error.errors()})
        raise Malformed(f"{model.__name__}: {', '.join(where)}", say) from None


# ---------------------------------------------------------------- slash commands


class SlashCommand(_Shape):
    user_id: SlackId
    text: Text = ""
    trigger_id: Token
    response_url: WebAddress
    # The workspace: in OAuth mode, whose token the answer is sent with.
    team_id: SlackId


# ------------------------------------------------------------ buttons and selects


class _Place(_Shape):
    id: SlackId


class _Button(_Shape):
    value: Value


class ButtonPress(_Shape):
    """A button whose value names a request: claim, wait, reopen, status, forms."""

    user: _Someone
    channel: _Place | None = None
    trigger_id: Token | None = None
    actions: list[_Button] = Field(min_length=1)

    @property
    def value(self) -> str:
        return self.actions[0].value


class FormButton(ButtonPress):
    """A button that opens a modal: it needs the trigger to open it with."""

    trigger_id: Token


_RATING = re.compile(r"^(?P<key>[^|]{1,64})\|(?P<rating>[0-9]{1,2})$")


class _RatingButton(_Shape):
    value: Annotated[str, StringConstraints(pattern=_RATING.pattern)]


class RatingPress(_Shape):
    """A survey button: its value is `KEY|rating`."""

    user: _Someone
    channel: _Place | None = None
    actions: list[_RatingButton] = Field(min_length=1)

    @property
    def key(self) -> str:
        return self._parts().group("key")

    @property
    def rating(self) -> int:
        return int(self._parts().group("rating"))

    def _parts(self) -> re.Match[str]:
        found = _RATING.match(self.actions[0].value)
        assert found is not None  # the field's pattern
        return found


class _Offer(_Shape):
    text: Text = ""
    permalink: Text | None = None


class _OfferButton(_Shape):
    value: Json[_Offer]


class OfferPress(_Shape):
    """ "File this as a request" under a message: the value carries its text and link."""

    user: _Someone
    channel: _Place | None = None
    trigger_id: Token
    actions: list[_OfferButton] = Field(min_length=1)

    @property
    def offer(self) -> _Offer:
        return self.actions[0].value


class _FormMetadata(_Shape):
    permalink: Text | None = None


FormMetadata = Annotated[Json[_FormMetadata | None], BeforeValidator(_empty_is_none)]


class _OpenForm(_Shape):
    id: SlackId
    hash: Text | None = None
    private_metadata: FormMetadata = None

    @property
    def permalink(self) -> str | None:
        return self.private_metadata.permalink if self.private_metadata else None


class _Choice(_Shape):
    value: Value


class _Select(_Shape):
    selected_option: _Choice


class TeamChosen(_Shape):
    """Choosing a team in the request form."""

    user: _Someone
    view: _OpenForm
    actions: list[_Select] = Field(min_length=1)

    @property
    def team_key(self) -> str:
        return self.actions[0].selected_option.value


# -------------------------------------------------------------------- modals


class _Entry(_Shape):
    value: Text | None = None
    selected_option: _Choice | None = None


class _State(_Shape):
    values: dict[str, dict[str, _Entry]]


class _Submitted(_Shape):
    id: SlackId
    state: _State


class _SubmittedFile(_Submitted):
    private_metadata: FormMetadata = None


class _SubmittedNote(_Submitted):
    private_metadata: Value  # the request's key


V = TypeVar("V", bound=_Submitted)


class Submission(_Shape, Generic[V]):
    user: _Someone
    view: V

    def field(self, block_id: str) -> str:
        """A form field's value: typed text or the chosen option, '' when empty."""
        for entry in (self.view.state.values.get(block_id) or {}).values():
            if entry.selected_option:
                return entry.selected_option.value
            return entry.value or ""
        return ""


FileSubmission = Submission[_SubmittedFile]
NoteSubmission = Submission[_SubmittedNote]


# ---------------------------------------------------------------- shortcuts


class _ShortcutMessage(_Shape):
    ts: Token
    text: Text = ""


class MessageShortcut(_Shape):
    user: _Someone
    trigger_id: Token
    channel: _Place
    message: _ShortcutMessage


# -------------------------------------------------------------------- events


E = TypeVar("E", bound=_Shape)


class Delivery(_Shape, Generic[E]):
    """An Events API envelope: the event, and its id (each is handled once)."""

    event_id: Token
    event: E


class Said(_Shape):
    """A message someone wrote: in a thread, or to the bot."""

    user: SlackId
    channel: SlackId
    ts: Token
    thread_ts: Token | None = None
    text: Text = ""
    channel_type: Text | None = None


class _ReactedTo(_Shape):
    type: Text
    channel: SlackId | None = None
    ts: Token | None = None

    @model_validator(mode="after")
    def _a_message_has_a_place(self) -> _ReactedTo:
        if self.type == "message" and (self.channel is None or self.ts is None):
            raise ValueError("a message reaction names its channel and ts")
        return self


class _Reaction(_Shape):
    user: SlackId
    reaction: Text
    item: _ReactedTo


class _HomeOpened(_Shape):
    user: SlackId
    tab: Text | None = None


class AppUninstalled(_Shape):
    """The app was removed from a workspace (its tokens are revoked with it)."""

    team_id: SlackId
    event_id: Token


class _Tokens(_Shape):
    oauth: list[SlackId] = Field(default_factory=list)
    bot: list[SlackId] = Field(default_factory=list)


class _Revoked(_Shape):
    tokens: _Tokens = Field(default_factory=_Tokens)


class TokensRevoked(_Shape):
    """Tokens of a workspace were revoked: the users' (oauth) or the bot's."""

    team_id: SlackId
    event_id: Token
    event: _Revoked


MessageDelivery = Delivery[Said]
ReactionDelivery = Delivery[_Reaction]
HomeOpened = Delivery[_HomeOpened]


# ----------------------------------------------------------- who, and where


def _at(body: Any, *path: str) -> Any:
    for step in path:
        body = body.get(step) if isinstance(body, dict) else None
    return body


def _slack_id(value: Any) -> str | None:
    try:
        return _Someone(id=value).id
    except ValidationError:
        return None


def sender(body: Any) -> str | None:
    """Who sent a payload, when it says so in a form we can trust to address."""
    for found in (_at(body, "user", "id"), _at(body, "user_id"), _at(body, "event", "user")):
        if (user := _slack_id(found)) is not None:
            return user
    return None


def place(body: Any) -> str | None:
    """The conversation a payload came from, if any (a modal has none)."""
    for found in (
        _at(body, "channel", "id"),
        _at(body, "event", "channel"),
        _at(body, "event", "item", "channel"),
    ):
        if (channel := _slack_id(found)) is not None:
            return channel
    return None


def is_command(body: Any) -> bool:
    return isinstance(body, dict) and "command" in body
