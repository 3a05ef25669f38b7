"""Teams readers in their own language, from the activity's locale."""

from __future__ import annotations

from tests.adapters.teams.conftest import TeamsWorld


async def test_german_and_italian_readers_in_teams(teams: TeamsWorld) -> None:
    driver = teams.driver
    german = driver.activity("message", "hans", text="request it Drucker brennt", locale="de-DE")
    await driver.post(german)
    receipt = str(teams.to("a:1hans")[-1])
    assert "Anfrage IT-1 eingereicht" in receipt and "antwortet bis" in receipt

    italian = driver.activity(
        "message", "giulia", text="elenco", locale="it-IT", localTimezone="Europe/Rome"
    )
    await driver.post(italian)
    assert "Non hai richieste aperte." in str(teams.to("a:1giulia")[-1])
