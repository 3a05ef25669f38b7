"""Typed failures that every channel turns into a clear message for the reader."""

from __future__ import annotations

from collections.abc import Callable

from models.i18n import _


class DeskError(Exception):
    """A failure a person caused and can act on; rendered in the reader's language.

    The message is an untranslated template (marked with `N_`) so it is translated
    when rendered for its reader, not when raised.
    """

    def __init__(self, message: str, field: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.params = params

    def render(self, esc: Callable[[str], str]) -> str:
        """The message for its reader, each text parameter (a title, a name, what
        someone typed) escaped by `esc`, the reading channel's escaping."""
        return _(
            self.message,
            **{k: esc(v) if isinstance(v, str) else v for k, v in self.params.items()},
        )

    def __str__(self) -> str:
        # For logs and tracebacks only; people read `render`.
        return self.message


class NotFound(DeskError):
    """The thing named does not exist (unknown team, request key, person)."""


class UnknownTeam(NotFound):
    def __init__(self, message: str, choices: list[str], **params: object) -> None:
        super().__init__(message, field="team", **params)
        self.choices = choices


class PermissionDenied(DeskError):
    """The person may not do this (not on the team, not the requester)."""


class InvalidInput(DeskError):
    """Empty, oversized or malformed input; `field` names the form field."""


class Conflict(DeskError):
    """The request is not in a state that allows this (already rated, closed...)."""


def within_limit(text: str, limit: int, *, field: str, too_long: str) -> str:
    """`text` if it fits; otherwise the `too_long` message naming its length and the limit."""
    if len(text) > limit:
        raise InvalidInput(too_long, field=field, length=len(text), limit=limit)
    return text
