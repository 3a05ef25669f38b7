"""Teams with MICROSOFT_APP_ID: every activity's Bot Framework token is checked.

The tokens are real: signed by a fake Bot Framework token service whose keys the app
fetches (MICROSOFT_OPENID_METADATA_URL), and the bot's own calls to the connector
carry tokens it got from a fake Entra ID, which the connector checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.adapters.teams.conftest import APP_ID, SignedTeams
from tests.adapters.teams.driver import TeamsDriver
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.bot_tokens import new_signing_key


async def test_a_valid_token_is_served_and_the_bot_answers_with_its_own(
    signed_teams: SignedTeams,
) -> None:
    teams = signed_teams.world
    assert (await teams.driver.install_in_team("alice")).status in (200, 201)
    answer = await teams.driver.say("sam", "request it Printer on fire")
    assert answer.status == 201
    assert (await teams.request("IT-1")).title == "Printer on fire"
    # The answer reached Sam, and the team's card its channel, each call with a
    # token the connector accepted.
    assert "IT-1" in str(teams.to("a:1sam")[-1])
    await teams.deliver()
    assert any("Printer on fire" in str(p.activity) for p in teams.channel_posts())
    assert teams.connector.warnings == []
    assert {r.status for r in teams.connector.requests} <= {200, 201}
    assert signed_teams.entra.issued and signed_teams.entra.refused == []
    assert "/v1/.well-known/keys" in signed_teams.tokens.fetched


def now_minus(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


Forge = Callable[[SignedTeams, dict[str, Any]], str | None]

REFUSED: dict[str, Forge] = {
    "no token": lambda t, a: None,
    "not a JWT": lambda t, a: "Bearer not-a-token",
    "another scheme": lambda t, a: f"Basic {t.token(a)}",
    "forged signature": lambda t, a: f"Bearer {t.token(a, signed_with=new_signing_key())}",
    "unsigned (alg none)": lambda t, a: f"Bearer {t.token(a, algorithm='none')}",
    "unknown key": lambda t, a: (
        f"Bearer {t.token(a, kid='bf-unknown', signed_with=new_signing_key())}"
    ),
    "key not endorsed for Teams": lambda t, a: (
        f"Bearer {t.token(a, kid=t.tokens.publish_key(['webchat']))}"
    ),
    "for another bot": lambda t, a: (
        f"Bearer {t.token(a, aud='11111111-2222-3333-4444-555555555555')}"
    ),
    "from another issuer": lambda t, a: f"Bearer {t.token(a, iss='https://sts.attacker.example/')}",
    "expired an hour ago": lambda t, a: f"Bearer {t.token(a, issued=now_minus(2))}",
    "not valid for an hour": lambda t, a: f"Bearer {t.token(a, issued=now_minus(-1))}",
    "without serviceurl": lambda t, a: f"Bearer {t.token(a, serviceurl=None)}",
    "for another serviceUrl": lambda t, a: (
        f"Bearer {t.tokens.token(app_id=APP_ID, service_url='https://smba.trafficmanager.net/emea/')}"
    ),
}


@pytest.mark.parametrize("forge", list(REFUSED.values()), ids=list(REFUSED))
async def test_a_refused_token_is_a_401_and_nothing_is_stored_or_asked(
    signed_teams: SignedTeams, forge: Forge
) -> None:
    teams = signed_teams.world
    before = await teams.stored()
    activities = [
        teams.driver.activity("message", "sam", text="request it Printer on fire"),
        teams.driver.activity("installationUpdate", "sam", action="add"),
        teams.driver.activity("message", "mallory", text="hello", **teams.driver.channel()),
    ]
    for activity in activities:
        header = forge(signed_teams, activity)
        answer = await teams.driver.post(
            activity, headers={"Authorization": header} if header else {}
        )
        assert answer.status == 401, answer.body
    assert await teams.stored() == before
    assert teams.connector.requests == []  # no roster lookup, no reply
    assert signed_teams.entra.issued == []  # the bot never even asked for its own token


async def test_a_genuine_token_for_another_service_url_cannot_redirect_the_team(
    signed_teams: SignedTeams,
) -> None:
    """The reported attack with a real token: Mallory has one (for the real
    connector) and points her activity's serviceUrl at her own server."""
    teams = signed_teams.world
    async with FakeConnector() as attacker:
        attacker.add_member("aad-mallory", id="29:mallory", name="Sam", email="sam@example.com")
        before = await teams.stored()
        genuine = teams.driver.sign
        assert genuine is not None
        forged = TeamsDriver(
            teams.driver.base_url,
            attacker.url,
            # Her token is Microsoft's, issued for the real connector's serviceUrl.
            sign=lambda activity: genuine({**activity, "serviceUrl": teams.connector.url}),
        )
        answers = [
            await forged.say("mallory", "list"),
            await forged.install_in_team("mallory"),
            await forged.say_in_channel("mallory", "hello"),
        ]
        assert {a.status for a in answers} == {401}
        assert await teams.stored() == before

        await teams.driver.install_in_team("alice")
        await teams.driver.say("sam", "request it Printer on fire")
        await teams.deliver()
        assert any("Printer on fire" in str(p.activity) for p in teams.channel_posts())
        assert attacker.requests == []
