"""A fake of Entra ID (login.microsoftonline.com) for a bot's own tokens, on 127.0.0.1.

``FakeEntraID`` is where the bot gets the token for its calls to the connector
(OAuth 2 client credentials, through MSAL). MSAL talks only https, and to a
Microsoft host unless it may first ask Microsoft about another one, so the fake is
reached the way a corporate proxy is: ``environment()`` gives HTTPS_PROXY (a CONNECT
proxy that tunnels login.microsoftonline.com:443 to the fake and refuses every other
host, so nothing leaves the machine), REQUESTS_CA_BUNDLE (the fake's own test CA) and
NO_PROXY=127.0.0.1,localhost. ``problem(header, app_id)`` checks a token it issued,
for FakeConnector(authorize=...)::

    async with FakeEntraID() as entra:
        entra.register(APP_ID, SECRET, TENANT)
        for name, value in entra.environment().items():
            monkeypatch.setenv(name, value)
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from tests.fakes.bot_tokens import BOT_FRAMEWORK
from tests.fakes.keys import certificate, new_signing_key
from tests.fakes.threaded import ServerThread, serve_app

__all__ = ["AUTHORITY_HOST", "FakeEntraID"]

AUTHORITY_HOST = "login.microsoftonline.com"


@dataclass
class _App:
    secret: str
    tenant: str


@dataclass
class FakeEntraID:
    """login.microsoftonline.com for the bot's client-credentials tokens; see above."""

    apps: dict[str, _App] = field(default_factory=dict)  # by client (app) id
    issued: list[dict[str, Any]] = field(default_factory=list)  # claims of issued tokens
    requests: list[str] = field(default_factory=list)  # "METHOD /path" through the tunnel
    refused: list[str] = field(default_factory=list)  # what the proxy would not connect

    def __post_init__(self) -> None:
        self._key = new_signing_key()
        self._kid = "entra-" + secrets.token_hex(6)
        self._dir = tempfile.TemporaryDirectory(prefix="fake-entra-")
        ca_key, host_key = new_signing_key(), new_signing_key()
        ca = certificate("Inhouse test CA", ca_key, ca=True)
        host = certificate(
            AUTHORITY_HOST, host_key, issuer=("Inhouse test CA", ca_key), dns=AUTHORITY_HOST
        )
        folder = Path(self._dir.name)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (folder / "host.pem").write_bytes(host.public_bytes(serialization.Encoding.PEM))
        (folder / "host.key").write_bytes(
            host_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(folder / "host.pem", folder / "host.key")
        self._server = ServerThread("fake-entra-id")
        self._https_port = self._proxy_port = 0

    def register(self, app_id: str, secret: str, tenant: str) -> None:
        """An app registration the bot may get tokens for."""
        self.apps[app_id] = _App(secret, tenant)

    def environment(self) -> dict[str, str]:
        """What the bot's process needs to reach this fake instead of Microsoft."""
        return {
            "HTTPS_PROXY": f"http://127.0.0.1:{self._proxy_port}",
            "NO_PROXY": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
        }

    def problem(self, authorization: str | None, app_id: str) -> str | None:
        """Why a connector must refuse this Authorization header, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            return "no bearer token"
        try:
            claims = jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], audience=BOT_FRAMEWORK
            )
        except jwt.InvalidTokenError as error:
            return f"invalid token: {error}"
        if claims.get("appid") != app_id:
            return f"token for app {claims.get('appid')!r}, not {app_id!r}"
        return None

    async def __aenter__(self) -> FakeEntraID:
        await self._server.start(self._start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._server.stop()
        self._dir.cleanup()

    async def _start(self) -> Any:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/common/discovery/instance", self._instance)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._https_port, stop_https = await serve_app(app, ssl_context=self._tls)
        tunnels: set[asyncio.Task[None]] = set()

        async def tunnel(client: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tunnels.add(task)
            try:
                await self._tunnel(client, writer)
            finally:
                tunnels.discard(task)

        proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
        self._proxy_port = proxy.sockets[0].getsockname()[1]

        async def stop() -> None:
            # MSAL keeps its connection (so the tunnel) open; end them while the
            # loop still runs.
            proxy.close()
            for task in list(tunnels):
                task.cancel()
            await asyncio.gather(*tunnels, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proxy.wait_closed(), 2)
            await stop_https()

        return stop

    # ---------------------------------------------------------------- the proxy

    async def _tunnel(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        try:
            head = await client.readuntil(b"\r\n\r\n")
            method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT" or target != f"{AUTHORITY_HOST}:443":
                self.refused.append(f"{method} {target}")
                to_client.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await to_client.drain()
                return
            server, to_server = await asyncio.open_connection("127.0.0.1", self._https_port)
            to_client.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await to_client.drain()
            await asyncio.gather(_pipe(client, to_server), _pipe(server, to_client))
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            to_client.close()

    # ---------------------------------------------------------------- Entra ID

    async def _discovery(self, request: web.Request) -> web.Response:
        self.requests.append(f"GET {request.path}")
        tenant = request.match_info["tenant"]
        if tenant not in {a.tenant for a in self.apps.values()}:
            return web.json_response(
                {"error": "invalid_tenant", "error_description": f"AADSTS90002: {tenant}"},
                status=400,
            )
        base = f"https://{AUTHORITY_HOST}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
            }
        )

    async def _instance(self, request: web.Request) -> web.Response:
        """Instance discovery, which MSAL asks after a refused token request."""
        self.requests.append(f"GET {request.path}")
        tenant = request.query.get("authorization_endpoint", "").split("/")[3:4] or ["common"]
        return web.json_response(
            {
                "tenant_discovery_endpoint": (
                    f"https://{AUTHORITY_HOST}/{tenant[0]}/v2.0/.well-known/openid-configuration"
                ),
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": AUTHORITY_HOST,
                        "preferred_cache": "login.windows.net",
                        "aliases": [AUTHORITY_HOST, "login.windows.net", "sts.windows.net"],
                    }
                ],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(f"POST {request.path}")
        form = await request.post()
        app = self.apps.get(str(form.get("client_id")))
        tenant = request.match_info["tenant"]
        if (
            form.get("grant_type") != "client_credentials"
            or app is None
            or app.tenant != tenant
            or not secrets.compare_digest(str(form.get("client_secret")), app.secret)
        ):
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
                status=401,
            )
        if form.get("scope") != f"{BOT_FRAMEWORK}/.default":
            return web.json_response(
                {"error": "invalid_scope", "error_description": "AADSTS70011"}, status=400
            )
        now = int(time.time())
        claims = {
            "aud": BOT_FRAMEWORK,
            "iss": f"https://sts.windows.net/{tenant}/",
            "appid": form["client_id"],
            "tid": tenant,
            "ver": "1.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        self.issued.append(claims)
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }
        )

    async def _unknown(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path}")
        return web.json_response({"error": "not_found"}, status=404)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            sink.close()
