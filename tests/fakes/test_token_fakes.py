"""The token fakes, driven by the clients the app uses: MSAL and requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import jwt
import msal
import pytest
import requests

from tests.fakes.bot_tokens import BOT_FRAMEWORK, FakeBotTokens
from tests.fakes.entra_id import FakeEntraID

APP, SECRET, TENANT = "app-1", "s3cret", "tenant-1"


@pytest.fixture
async def entra(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEntraID]:
    async with FakeEntraID() as fake:
        fake.register(APP, SECRET, TENANT)
        for name, value in fake.environment().items():
            monkeypatch.setenv(name, value)
            monkeypatch.setenv(name.lower(), value)
        yield fake


def client_token(secret: str) -> dict[str, str]:
    app = msal.ConfidentialClientApplication(
        APP, client_credential=secret, authority=f"https://login.microsoftonline.com/{TENANT}"
    )
    return dict(app.acquire_token_for_client(scopes=[f"{BOT_FRAMEWORK}/.default"]))


async def test_msal_gets_a_bot_framework_token_the_fake_can_check(entra: FakeEntraID) -> None:
    answer = await asyncio.to_thread(client_token, SECRET)
    token = answer["access_token"]
    assert entra.problem(f"Bearer {token}", APP) is None
    assert entra.problem(f"Bearer {token}", "another-app") is not None
    assert entra.problem(None, APP) == "no bearer token"
    assert entra.issued[0]["aud"] == BOT_FRAMEWORK and entra.issued[0]["appid"] == APP
    assert entra.requests == [
        f"GET /{TENANT}/v2.0/.well-known/openid-configuration",
        f"POST /{TENANT}/oauth2/v2.0/token",
    ]


async def test_a_wrong_secret_gets_no_token(entra: FakeEntraID) -> None:
    answer = await asyncio.to_thread(client_token, "guess")
    assert answer.get("error") == "invalid_client" and "access_token" not in answer
    assert entra.issued == []
    assert f"POST /{TENANT}/oauth2/v2.0/token" in entra.requests


async def test_the_proxy_lets_nothing_else_leave_the_machine(entra: FakeEntraID) -> None:
    with pytest.raises(requests.exceptions.ProxyError):
        await asyncio.to_thread(requests.get, "https://example.com/", timeout=5)
    assert entra.refused == ["CONNECT example.com:443"]


async def test_channel_tokens_verify_against_the_published_keys() -> None:
    async with FakeBotTokens(endorsements=["msteams"]) as tokens:
        metadata = await asyncio.to_thread(requests.get, tokens.metadata_url, timeout=5)
        keys = await asyncio.to_thread(requests.get, metadata.json()["jwks_uri"], timeout=5)
        published = keys.json()["keys"]
        assert [k["kid"] for k in published] == [tokens.kid]
        assert published[0]["endorsements"] == ["msteams"]
        token = tokens.token(app_id=APP, service_url="http://127.0.0.1:1/")
        key = jwt.PyJWK(published[0]).key
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=APP)
        assert claims["iss"] == BOT_FRAMEWORK
        assert claims["serviceurl"] == "http://127.0.0.1:1/"
        assert claims["exp"] - claims["nbf"] == 3600
