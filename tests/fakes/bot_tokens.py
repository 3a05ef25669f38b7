"""Fakes of the two token services around a Bot Framework bot, all on 127.0.0.1.

``FakeBotTokens`` is the channel's side (login.botframework.com): the OpenID
metadata and signing keys (a JWKS whose keys carry ``endorsements``, as the real
one's do) that the bot checks each activity's token against, and the tokens Teams
attaches to activities: RS256, ``iss`` https://api.botframework.com, ``aud`` the
bot's app id, ``serviceurl`` the activity's serviceUrl, ``nbf``/``exp``. Point the
app at it with MICROSOFT_OPENID_METADATA_URL=tokens.metadata_url::

    async with FakeBotTokens() as tokens:
        token = tokens.token(app_id=APP_ID, service_url=connector.url)
        # POST the activity with "Authorization: Bearer <token>"

``FakeEntraID`` is login.microsoftonline.com, where the bot gets the token for its
own calls to the connector (OAuth 2 client credentials, through MSAL). MSAL talks
only https, and to a Microsoft host unless it may first ask Microsoft about another
one, so the fake is reached the way a corporate proxy is: ``environment()`` gives
HTTPS_PROXY (a CONNECT proxy that tunnels login.microsoftonline.com:443 to the fake
and refuses every other host, so nothing leaves the machine), REQUESTS_CA_BUNDLE
(the fake's own test CA) and NO_PROXY=127.0.0.1,localhost. ``problem(header)`` checks
a token it issued, for FakeConnector(authorize=...).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import ssl
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

from tests.fakes.threaded import ServerThread, serve_app

__all__ = ["BOT_FRAMEWORK", "FakeBotTokens", "FakeEntraID", "new_signing_key"]

BOT_FRAMEWORK = "https://api.botframework.com"  # the channel tokens' issuer; the bot's scope
AUTHORITY_HOST = "login.microsoftonline.com"


def new_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    *,
    issuer: tuple[str, rsa.RSAPrivateKey] | None = None,
    ca: bool = False,
    dns: str | None = None,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    """The public half as a JWKS entry, with the certificate the way Microsoft's have."""
    der = _certificate("fake-token-signing", key).public_bytes(serialization.Encoding.DER)
    return {
        **RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
        "kid": kid,
        "use": "sig",
        "x5t": _b64url(hashlib.sha1(der).digest()),  # the JWK thumbprint (x5t) is SHA-1
        "x5c": [base64.b64encode(der).decode("ascii")],
        **extra,
    }


# --------------------------------------------------------------------------- channel


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
            {
                "keys": [
                    _jwk(p.key, kid, endorsements=p.endorsements) for kid, p in self.keys.items()
                ]
            }
        )


# --------------------------------------------------------------------------- Entra ID


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
        ca = _certificate("Inhouse test CA", ca_key, ca=True)
        host = _certificate(
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
