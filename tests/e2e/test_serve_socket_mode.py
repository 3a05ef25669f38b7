"""`inhouse serve` in Socket Mode, as a self-hosted desk runs it: a real process with
SLACK_APP_TOKEN and SLACK_BOT_TOKEN only, connecting out to a fake Slack."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from tests.e2e.cli import Inhouse
from tests.e2e.test_serve import serving
from tests.fakes.slack_api import FakeSlack

T = TypeVar("T")


class FakeSlackThread:
    """The fake Slack on its own event loop in a thread, so a test can drive it
    while the desk runs as a separate process."""

    def __init__(self) -> None:
        self.fake = FakeSlack()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def run(self, step: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(step, self._loop).result(timeout)

    def wait_for(self, what: str, check: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout}s")

    def __enter__(self) -> FakeSlackThread:
        self._thread.start()
        self.run(self.fake.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@contextmanager
def fake_slack() -> Iterator[FakeSlackThread]:
    with FakeSlackThread() as slack:
        slack.fake.add_user(
            "U0LUCA", email="luca@example.com", real_name="Luca Rossi", tz="Europe/Rome"
        )
        slack.fake.add_channel("DU0LUCA", members=["U0LUCA", slack.fake.bot_user_id])
        yield slack


def post(port: int, path: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_serve_in_socket_mode_with_only_the_app_and_bot_tokens(desk: Inhouse) -> None:
    with fake_slack() as slack:
        fake = slack.fake
        desk.extra_env.update(
            SLACK_APP_TOKEN=fake.app_token, SLACK_BOT_TOKEN=fake.token, SLACK_API_URL=fake.url
        )
        with serving(desk) as server:
            slack.wait_for("a Socket Mode connection", lambda: fake.socket_connected)
            assert "channel slack: on (single workspace)" in server.log
            assert "Socket Mode on" in server.log
            # No signing secret: nothing could verify a post, so there is no such door.
            assert post(server.port, "/slack/events", b"{}") == 404

            url = fake.new_response_url()
            fake_trigger = fake.new_trigger_id("U0LUCA")
            slack.run(
                fake.socket_send(
                    {
                        "type": "slash_commands",
                        "envelope_id": "env-1",
                        "accepts_response_payload": True,
                        "payload": {
                            "token": "legacy",
                            "team_id": fake.team_id,
                            "channel_id": "C0GENERAL",
                            "user_id": "U0LUCA",
                            "user_name": "luca",
                            "command": "/request",
                            "text": "it Printer on fire",
                            "api_app_id": "A0INHOUSE",
                            "response_url": url,
                            "trigger_id": fake_trigger,
                        },
                    }
                )
            )
            slack.wait_for("the answer at the response_url", lambda: fake.responses[url])
            # Acknowledged over the socket with "Filing…" (in whichever language).
            [ack] = fake.socket_acks
            assert ack["envelope_id"] == "env-1"
            assert ack["payload"]["response_type"] == "ephemeral"
            assert ack["payload"]["text"].startswith("⏳ ")
            # Luca reads Italian (the catalog says so).
            assert "Richiesta IT-1 aperta: Printer on fire." in fake.responses[url][0]["text"]
            assert desk.query("SELECT key, title FROM requests") == [("IT-1", "Printer on fire")]
            code = server.stop()
        assert code == 0, server.log
        assert "Traceback" not in server.log, server.log
        # The desk closed its connection on the way out.
        slack.wait_for("the connection to close", lambda: not fake.socket_connected, timeout=5)
