"""A small chat platform behind the `Channel` protocol, for the outbox's fault tests.

It is a fake platform, not a mock of our code: it keeps what was posted (each post
marked with the notice id, as Slack keeps a message's metadata), edits the message
a reference names, and can be told to be down (503s, 429s with Retry-After, cut
connections, by the injected clock), to refuse a conversation for good, or to hold
a delivery open until the test lets it finish. With `look_before_posting`, a notice
handed over with `maybe_sent` is first looked for among the posts, the way the
Slack channel looks up message metadata, so a crash never posts twice.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.delivery import DeliveryError, PendingNotice, Recipient
from models.clock import Clock


@dataclass
class Post:
    notice: int
    kind: str
    conversation: str
    message: str
    edit: bool
    at: datetime


@dataclass
class Attempt:
    notice: int
    kind: str
    at: datetime
    maybe_sent: bool


@dataclass
class FakePlatform:
    clock: Clock
    name: str = "fake"
    look_before_posting: bool = True
    down_until: datetime | None = None
    # conversations (e.g. "team:1") that answer a permanent error, by its code
    refusing: dict[str, str] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    # While set, deliveries wait for `release` (a slow platform: in flight).
    hold: bool = False
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[int] = field(default_factory=list)
    # What a held delivery answers once released, instead of success.
    then_fail: DeliveryError | None = None
    # The outage hits only these conversations (all when None).
    down_only: set[str] | None = None
    # Flakiness: this share of attempts fails, half of them after the post went
    # through (the answer is lost: an ambiguous failure, `maybe_sent`).
    fail_rate: float = 0.0
    # Seconds each post takes to be answered (real time), and how many deliveries
    # were in flight at once: overall, and in any one conversation.
    latency: float = 0.0
    most_at_once: int = 0
    most_in_one_conversation: int = 0
    _in_flight: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _outage: itertools.cycle[str] = field(
        default_factory=lambda: itertools.cycle(["503", "429", "cut"])
    )

    async def reaches(self, recipient: Recipient) -> bool:
        return True

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        now = self.clock.now()
        self.attempts.append(Attempt(notice.id, notice.kind, now, notice.maybe_sent))
        conversation = _conversation(notice.recipient)
        down = self.down_only is None or conversation in self.down_only
        if self.down_until is not None and now < self.down_until and down:
            raise _outage_error(next(self._outage))
        flaky = self.fail_rate and self.rng.random() < self.fail_rate
        if flaky and self.rng.random() < 0.5:
            raise DeliveryError("fake: HTTP 502", transient=True, code="http_5xx")
        if conversation in self.refusing:
            code = self.refusing[conversation]
            raise DeliveryError(f"fake: {code}", transient=False, code=code)
        if notice.maybe_sent and self.look_before_posting:
            for earlier in self.posts:
                if earlier.notice == notice.id:
                    return {"conversation": earlier.conversation, "message": earlier.message}
        ref = await self._post(notice, conversation)
        if flaky:
            raise DeliveryError(
                "fake: the answer was lost", transient=True, code="unreachable", maybe_sent=True
            )
        return ref

    async def _post(self, notice: PendingNotice, conversation: str) -> dict[str, Any]:
        self._in_flight[conversation] = self._in_flight.get(conversation, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self._in_flight.values()))
        self.most_in_one_conversation = max(
            self.most_in_one_conversation, self._in_flight[conversation]
        )
        try:
            return await self._posted(notice, conversation)
        finally:
            self._in_flight[conversation] -= 1

    async def _posted(self, notice: PendingNotice, conversation: str) -> dict[str, Any]:
        card = notice.refs.get("team_card") if notice.kind == "team_card" else None
        survey = notice.refs.get("survey") if notice.kind == "survey_answered" else None
        edited = card or survey
        message = str(edited["message"]) if edited else f"p{next(self._ids)}"
        # A post is on the platform once it arrives, whether or not the answer gets back.
        self.posts.append(
            Post(notice.id, notice.kind, conversation, message, bool(edited), self.clock.now())
        )
        # The answer travels back: others may run meanwhile.
        await asyncio.sleep(self.latency)
        if self.hold:
            self.entered.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(notice.id)
                raise
            if self.then_fail is not None:
                raise self.then_fail
        return {"conversation": conversation, "message": message}

    def delivered(self, notice: int) -> int:
        """How many times the platform shows this notice (posts and edits)."""
        return sum(post.notice == notice for post in self.posts)


def _conversation(recipient: Recipient) -> str:
    if recipient.destination is not None:
        return "to:" + json.dumps(recipient.destination, sort_keys=True)
    return recipient.target


def _outage_error(kind: str) -> DeliveryError:
    if kind == "503":
        return DeliveryError("fake: HTTP 503", transient=True, code="http_5xx")
    if kind == "429":
        return DeliveryError(
            "fake: ratelimited", transient=True, retry_after=20, code="ratelimited"
        )
    return DeliveryError("fake unreachable: connection cut", transient=True, code="unreachable")
