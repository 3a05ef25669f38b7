"""A steady stream of quick-files, sent as Slack sends slash commands: form-encoded,
signed with the signing secret (slack_sdk's SignatureVerifier), each with its own
trigger_id and response_url from the fake Slack.

Open loop: command n is due at start + n / rate whether or not earlier ones were
answered, as people type regardless of how the desk is doing. With several
replicas the stream is spread round-robin over those alive (a load balancer
whose health check notices a dead replica at once); with none alive a command
is sent to the first anyway and fails as Slack's would (connection refused).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.adapters.slack.driver import APP, TEAM
from tests.fakes.slack_api import FakeSlack
from tests.faults.desk import SIGNING_SECRET, quick_file_text, requester_of

SLACK_DEADLINE = 3.0  # Slack tells the person the command failed after this long
ACK_TEXT = "Filing your request"


@dataclass
class Sent:
    n: int
    user: str
    response_url: str
    replica: str
    at: float  # time.monotonic() when it was sent
    status: int = 0  # 0: no HTTP answer (refused, cut, timed out)
    latency: float = 0.0
    body: str = ""
    error: str = ""

    @property
    def acked(self) -> bool:
        """Slack showed the person "Filing your request…" (in time or late)."""
        return self.status == 200 and ACK_TEXT in self.body

    @property
    def late(self) -> bool:
        return self.acked and self.latency > SLACK_DEADLINE


@dataclass
class Stream:
    fake: FakeSlack
    targets: Callable[[], list[tuple[str, str]]]  # (name, base URL) of live replicas
    tag: str
    sent: list[Sent] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def run(self, rate: float, seconds: float) -> None:
        """Send `rate` commands a second for `seconds`, then wait for their answers."""
        verifier = SignatureVerifier(SIGNING_SECRET)
        started = time.monotonic()
        count = round(rate * seconds)
        async with aiohttp.ClientSession() as http:
            tasks = []
            for i in range(count):
                due = started + i / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(self._send(http, verifier)))
            await asyncio.gather(*tasks)

    async def _send(self, http: aiohttp.ClientSession, verifier: SignatureVerifier) -> None:
        n = next(self._numbers)
        user = requester_of(n)
        live = self.targets()
        name, base = live[next(self._turn) % len(live)]
        sent = Sent(n, user, self.fake.new_response_url(), name, time.monotonic())
        self.sent.append(sent)
        body = urlencode(
            {
                "token": "legacy",
                "team_id": TEAM,
                "team_domain": "acme",
                "channel_id": "C0GENERAL",
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/request",
                "text": quick_file_text(n, self.tag),
                "api_app_id": APP,
                "is_enterprise_install": "false",
                "response_url": sent.response_url,
                "trigger_id": self.fake.new_trigger_id(user),
            }
        )
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": str(verifier.generate_signature(timestamp=stamp, body=body)),
        }
        try:
            async with http.post(
                f"{base}/slack/events",
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as answer:
                sent.body = await answer.text()
                sent.status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            sent.error = type(error).__name__
        sent.latency = time.monotonic() - sent.at
