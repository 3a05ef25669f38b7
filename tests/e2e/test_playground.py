"""The README's Agents Playground steps against the real Playground, when installed.

`inhouse serve --teams-local` runs as a person starts it, on the example catalog;
the Microsoft 365 Agents Playground (npm @microsoft/m365agentsplayground) runs
headless with the shipped config, and this test does what its web page does: it
posts what Alice types and clicks to the Playground's HTTP API and reads the bot's
answers from the page's websocket. Everything stays on this machine.

The Playground is not a Python package, so this test runs only where it is
installed: `agentsplayground` (or `teamsapptester`) on PATH, or INHOUSE_PLAYGROUND
naming the command, e.g. `node /tmp/pg/node_modules/@microsoft/m365agentsplayground/cli.js`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.e2e.cli import ROOT, Inhouse
from tests.e2e.test_serve import serving
from tests.ports import free_port

CONFIG = ROOT / "deploy" / "teams" / ".m365agentsplayground.yml"
SETUP = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
ME = SETUP["currentUser"]["id"]
BOT = SETUP["bot"]
CHAT = SETUP["personalChat"]["id"]
IT_DESK = SETUP["team"]["channels"][0]["id"]


def playground_command() -> list[str] | None:
    named = os.environ.get("INHOUSE_PLAYGROUND")
    if named:
        return shlex.split(named)
    found = shutil.which("agentsplayground") or shutil.which("teamsapptester")
    return [found] if found else None


COMMAND = playground_command()
pytestmark = pytest.mark.skipif(
    COMMAND is None,
    reason="the Agents Playground is not installed (npm i @microsoft/m365agentsplayground; "
    "or set INHOUSE_PLAYGROUND)",
)


@contextmanager
def playground(workdir: Path, endpoint: str) -> Iterator[str]:
    """The Playground, headless, on a free port; its base URL."""
    assert COMMAND is not None
    port = free_port()
    env = {
        **os.environ,
        "TEAMSAPPTESTER_BROWSER": "none",
        "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(CONFIG),
        "M365_AGENTS_PLAYGROUND_LOGFILE": str(workdir / "playground.log"),
    }
    args = [*COMMAND, "-e", endpoint, "-c", "msteams", "-p", str(port), "--disable-telemetry"]
    with (workdir / "playground.out").open("wb") as sink:
        process = subprocess.Popen(
            args, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (workdir / "playground.out").read_text()
            try:
                with urllib.request.urlopen(f"{base}/_internal/v1/config", timeout=2) as answer:
                    if json.load(answer)["config"]["currentUser"]["id"] == ME:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "the Playground did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Page:
    """What the Playground's web page does: post what Alice does, read the stream."""

    http: aiohttp.ClientSession
    base: str
    events: list[dict[str, Any]] = field(default_factory=list)

    async def listen(self) -> None:
        async with self.http.ws_connect(
            self.base.replace("http", "ws") + "/_ws_conversation/v1/conversations/stream"
        ) as socket:
            async for message in socket:
                self.events.append(json.loads(message.data))

    async def say(self, conversation: str, text: str, *, mention: bool = False) -> None:
        body: dict[str, Any] = {"from": {"id": ME}, "text": text, "textFormat": "plain"}
        if mention:
            tag = f"<at>{BOT['name']}</at>"
            body["text"] = f"{tag} {text}"
            body["mentions"] = [{"mentioned": {"id": BOT["id"]}, "text": tag}]
        url = f"{self.base}/_conversation/v1/conversations/{conversation}/messages"
        async with self.http.post(url, json=body) as answer:
            assert answer.status == 200, await answer.text()

    async def press(self, conversation: str, card: str, value: dict[str, Any]) -> None:
        body = {"conversation": {"id": conversation}, "from": {"id": ME}, "replyToId": card}
        async with self.http.post(
            f"{self.base}/_conversation/v1/submit", json={**body, "value": value}
        ) as answer:
            assert answer.status == 200, await answer.text()

    async def shows(
        self, what: str, where: Callable[[str], bool], action: str = "createMessage"
    ) -> dict[str, Any]:
        """The latest message of the bot `where` a conversation matches, containing `what`."""
        for _ in range(300):
            for event in reversed(self.events):
                if (
                    event.get("action") == action
                    and where(event.get("actionConversationId", ""))
                    and what in text_of(event)
                ):
                    return event
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"never shown: {what!r}; seen:\n" + "\n".join(map(text_of, self.events))
        )

    def said_anywhere(self, what: str) -> bool:
        return any(what in text_of(e) for e in self.events)


def text_of(event: dict[str, Any]) -> str:
    message = event.get("message") or {}
    parts = [message.get("text") or ""]
    for attachment in message.get("attachments") or []:
        parts.append(json.dumps(attachment.get("content"), ensure_ascii=False))
    return " ".join(parts)


@pytest.fixture
async def page(desk: Inhouse) -> AsyncIterator[Page]:
    with (
        serving(desk, "--teams-local") as server,
        playground(desk.workdir, f"http://localhost:{server.port}/api/messages") as base,
    ):
        async with aiohttp.ClientSession() as http:
            seen = Page(http, base)
            listening = asyncio.create_task(seen.listen())
            await asyncio.sleep(0.5)
            try:
                yield seen
            finally:
                listening.cancel()


async def test_alice_files_in_her_chat_and_works_the_card_in_the_it_desk_channel(
    page: Page,
) -> None:
    in_chat = CHAT.__eq__

    def in_channel(conversation: str) -> bool:
        return conversation.startswith(IT_DESK)

    # 1. As a requester, in her chat with Inhouse.
    await page.say(CHAT, "request it My laptop won't boot")
    await page.shows("Filed IT-1: My laptop won't boot", in_chat)

    # 2. As the IT desk: the card is in the channel; Claim updates it in place.
    card = await page.shows("**IT-1**", IT_DESK.__eq__)
    card_id = card["message"]["messageId"]
    thread = f"{IT_DESK};messageid={card_id}"
    for button in ("Claim", "Assign…", "Waiting on requester", "Resolve"):
        assert f'"title": "{button}"' in text_of(card)
    await page.press(thread, card_id, {"action": "claim", "key": "IT-1"})
    await page.shows("Alice Novak from IT Service Desk is on it.", in_chat)
    await page.shows("resolve by", in_channel, action="updateMessage")

    # 3. A reply in the card's thread: the Playground, like Teams without the app's
    # consent, hands the bot only what @mentions it.
    await page.say(thread, "Plain words only")
    await page.say(thread, "Is the power light on?", mention=True)
    await page.shows("Is the power light on?", in_chat)
    assert not page.said_anywhere("Plain words only")  # never reached the bot

    # 4. Resolve from the card; the survey comes to the chat; a rating closes it.
    await page.press(thread, card_id, {"action": "resolve", "key": "IT-1", "note": "New PSU"})
    survey = await page.shows("How did we do?", in_chat)
    await page.press(
        CHAT, survey["message"]["messageId"], {"action": "rate", "key": "IT-1", "rating": 5}
    )
    await page.shows("closed by Alice Novak", in_channel, action="updateMessage")
