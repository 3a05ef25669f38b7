"""Secrets at rest: sealed with Fernet under the keys in INHOUSE_SECRET_KEY.

The first key seals, every key opens (MultiFernet), so a key is rotated by putting
a new one in front, re-sealing what is stored (`inhouse secrets rotate`), then
dropping the old one. A value stored before sealing existed is not a Fernet token:
it reads as it is until `rotate` seals it, so an existing deployment upgrades
without losing its installations.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from models.i18n import _

KEY_VARIABLE = "INHOUSE_SECRET_KEY"
NEW_KEY_COMMAND = "inhouse secrets new-key"

# A Fernet token: version byte 0x80, 8-byte time, 16-byte IV, AES blocks, 32-byte HMAC,
# all url-safe base64. Slack tokens (xox…) and webhook URLs (https://…) never are.
_FERNET_VERSION = 0x80
_FERNET_OVERHEAD = 1 + 8 + 16 + 32
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class SecretKeyError(ValueError):
    """INHOUSE_SECRET_KEY is missing where it is needed, or is not a list of Fernet keys.

    The message says what to set and how to make a key; it never repeats a key.
    """


class UnreadableSecret(Exception):
    """A sealed value that no configured key opens (sealed under another key)."""


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def is_sealed(stored: str) -> bool:
    """Whether a stored value is a Fernet token (rather than a secret stored in the clear)."""
    if not _BASE64URL.fullmatch(stored):
        return False
    try:
        raw = base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
    except (binascii.Error, ValueError):
        return False
    blocks = len(raw) - _FERNET_OVERHEAD
    return raw[0] == _FERNET_VERSION and blocks >= 16 and blocks % 16 == 0


@dataclass(frozen=True)
class Sealer:
    _fernet: MultiFernet

    @classmethod
    def from_keys(cls, keys: str) -> Sealer:
        """Comma-separated Fernet keys, newest first."""
        parts = [part.strip() for part in keys.split(",")]
        if not any(parts):
            raise SecretKeyError(missing_key_message())
        fernets = []
        for number, part in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(part.encode("ascii")))
            except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
                raise SecretKeyError(
                    _(
                        "{variable}: key {number} of {count} is not a Fernet key "
                        "(32 url-safe base64-encoded bytes); make one with `{command}`.",
                        variable=KEY_VARIABLE,
                        number=number,
                        count=len(parts),
                        command=NEW_KEY_COMMAND,
                    )
                ) from None
        return cls(MultiFernet(fernets))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret; a value stored in the clear comes back as it is.

        UnreadableSecret when it is sealed under a key that is not configured.
        """
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise UnreadableSecret from None

    def reseal(self, stored: str) -> str:
        """Sealed under the first key: a clear value is sealed, a sealed one re-sealed."""
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            return self._fernet.rotate(stored.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise UnreadableSecret from None


def missing_key_message() -> str:
    return _(
        "Set {variable} to a Fernet key (make one with `{command}`): "
        "Slack OAuth mode keeps each workspace's tokens encrypted with it.",
        variable=KEY_VARIABLE,
        command=NEW_KEY_COMMAND,
    )
