"""A fake of the Bot Framework channel's token service, on 127.0.0.1.

``FakeBotTokens`` plays login.botframework.com: the OpenID metadata and signing keys
(a JWKS whose keys carry ``endorsements``, as the real one's do) that the bot checks
each activity's token against, and the tokens Teams attaches to activities: RS256,
``iss`` https://api.botframework.com, ``aud`` the bot's app id, ``serviceurl`` the
activity's serviceUrl, ``nbf``/``exp``. Point the app at it with
MICROSOFT_OPENID_METADATA_URL=tokens.metadata_url::

    async with FakeBotTokens() as tokens:
        token = tokens.token(app_id=APP_ID, service_url=connector.url)
        # POST the activity with "Authorization: Bearer <token>"

The bot's own tokens (for its calls to the connector) come from Entra ID instead:
tests/fakes/entra_id.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.keys import jwk, new_signing_key
from tests.fakes.threaded import ServerThread, serve_app

__all__ = ["BOT_FRAMEWORK", "FakeBotTokens", "new_signing_key"]

BOT_FRAMEWORK = "https://api.botframework.com"  # the channel tokens' issuer; the bot's scope


@dataclass
class _Published:
    key: rsa.RSAPrivateKey
    endorsements: list[str]


class FakeBotTokens:
    """The Bot Framework's OpenID metadata and keys, and tokens signed with them."""

    def __init__(self, *, endorsements: Iterable[str] = ("msteams",)) -> None:
        self._server = ServerThread("fake-bot-tokens")
        self._port = 0
        self.keys: dict[str, _Published] = {}
        self.kid = self.publish_key(endorsements)
        self.fetched: list[str] = []  # paths the bot read: metadata, keys

    def publish_key(self, endorsements: Iterable[str]) -> str:
        """Another signing key in the JWKS, endorsed for these channels; its kid."""
        kid = "bf-" + secrets.token_hex(6)
        self.keys[kid] = _Published(new_signing_key(), list(endorsements))
        return kid

    @property
    def metadata_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1/.well-known/openidconfiguration"

    def token(
        self,
        *,
        app_id: str,
        service_url: str,
        kid: str | None = None,
        signed_with: rsa.RSAPrivateKey | None = None,
        lifetime: timedelta = timedelta(hours=1),
        issued: datetime | None = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        """A channel token for an activity; `claims` override or add (e.g. iss, aud).
        `signed_with` another key forges the signature under a published kid."""
        kid = kid or self.kid
        start = issued or datetime.now(UTC)
        payload = {
            "serviceurl": service_url,
            "nbf": int(start.timestamp()),
            "exp": int((start + lifetime).timestamp()),
            "iss": BOT_FRAMEWORK,
            "aud": app_id,
            **claims,
        }
        key = signed_with or self.keys[kid].key
        return jwt.encode(
            payload,
            None if algorithm == "none" else key,
            algorithm=algorithm,
            headers={"kid": kid, "typ": "JWT"},
        )

    async def __aenter__(self) -> FakeBotTokens:
        await self._server.start(self._start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._server.stop()

    async def _start(self) -> Any:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        self._port, stop = await serve_app(app)
        return stop

    async def _metadata(self, request: web.Request) -> web.Response:
        self.fetched.append(request.path)
        base = f"http://127.0.0.1:{self._port}"
        return web.json_response(
            {
                "issuer": BOT_FRAMEWORK,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{base}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.fetched.append(request.path)
        return web.json_response(
            {"keys": [jwk(p.key, kid, endorsements=p.endorsements) for kid, p in self.keys.items()]}
        )
