"""What the outbox dispatcher and the channels share: the `Channel` protocol, the
notice a channel is handed, how a channel reports failure, and the lease and retry
rules (docs/architecture.md, Outbox). Imported through handlers.delivery."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from models.directory import Person, Team

LEASE = timedelta(seconds=10)
RENEW_EVERY_SECONDS = 3.0
# A platform's Retry-After is honoured, but a broken header cannot park a notice for days.
LONGEST_RETRY_AFTER = timedelta(hours=1)
# Codes are metric labels: short, lowercase, from a bounded set the channels define.
_CODE = re.compile(r"[a-z0-9_]{1,40}")
# The code of a failure the platform answered with a rate limit (HTTP 429): its
# Retry-After is honoured even when other notices show the platform is back.
RATE_LIMITED = "ratelimited"


class DeliveryError(Exception):
    """A channel could not deliver.

    transient:   retried with backoff (connection errors, 5xx, 429) until the retry
                 horizon has passed; otherwise the notice is a dead letter at once.
    retry_after: seconds the platform asked us to wait (Retry-After), honoured.
    code:        a short code from a bounded set (the platform's error code such as
                 `channel_not_found`, or `http_5xx`, `unreachable`): shown by
                 `inhouse outbox list` and counted by /metrics. Never free text.
    maybe_sent:  this attempt may have reached the platform (e.g. a timeout after
                 the request went out): the next attempt is told `maybe_sent`.
    """

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        code: str | None = None,
        maybe_sent: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        self.code = code
        self.maybe_sent = maybe_sent


def failure_code(failure: DeliveryError) -> str:
    """The bounded code stored and counted for a failure."""
    if failure.code and _CODE.fullmatch(failure.code):
        return failure.code
    return "transient_error" if failure.transient else "permanent_error"


@dataclass(frozen=True)
class Recipient:
    """A person (a DM), a team (its channel), or a destination named in the notice:
    the organisation-wide digest channel ({"slack_channel": ..., "teams_channel":
    ...}) or where an answer goes (a Slack response_url or user, a Teams
    conversation reference); each platform's channel knows its own keys."""

    person: Person | None = None
    team: Team | None = None
    destination: dict[str, str] | None = None

    @property
    def target(self) -> str:
        if self.team is not None:
            return f"team:{self.team.id}"
        if self.person is not None:
            return f"person:{self.person.id}"
        return "destination"


@dataclass(frozen=True)
class PendingNotice:
    # The outbox row's id: stable across attempts and processes. A channel that
    # marks its posts with it (Slack message metadata) can find an earlier post.
    id: int
    kind: str
    payload: dict[str, Any]
    recipient: Recipient
    # Platform references of this request's living messages on the chosen channel,
    # by purpose ("team_card", "survey"): where to edit, which thread to reply in.
    refs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # An earlier attempt may have reached the platform (its process died or lost
    # its lease mid-delivery, or it failed ambiguously): look before posting again.
    maybe_sent: bool = False
    # When the notice was queued: no post of it is older, so a channel looking for
    # an earlier post need not look further back (less a margin for clock skew).
    queued_at: datetime | None = None


class Channel(Protocol):
    name: str

    async def reaches(self, recipient: Recipient) -> bool:
        """Whether this channel can deliver to the recipient (may look them up)."""
        ...

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        """Send or edit; return the platform reference of the message.

        A reference with "conversation" and "message" keys is remembered, so
        replies and reactions to that message find their request. Raise
        DeliveryError when the platform refused or could not be reached.
        """
        ...


@runtime_checkable
class ExplainsUnreachable(Protocol):
    """A channel that can say why it does not reach a recipient it is meant for (a
    Slack workspace that is not installed, say): the dead letter then says so."""

    def unreachable_because(self, recipient: Recipient) -> str | None: ...


@dataclass
class DispatchReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    waiting: int = 0  # held back: nobody can reach the recipient on this process
    lost: int = 0  # claims taken over by another loop before their outcome was recorded
    # (channel, seconds from queued to delivered) per delivery, for monitoring
    latencies: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the channel of each failed attempt


@dataclass(frozen=True)
class Leases:
    """How long a claim lasts, and how often a delivery in flight renews it.

    `renew_every` is event-loop time (a real pause between renewals); the lease's
    end is computed from the injected clock, like every stored time.
    """

    duration: timedelta = LEASE
    renew_every: float = RENEW_EVERY_SECONDS


@dataclass(frozen=True)
class RetryPolicy:
    """Outages delay, they do not drop: transient failures are retried with full
    jitter, at most `cap` apart (or as the platform's Retry-After asks), until
    `horizon` has passed since the failures began; then the notice is dead.

    `max_attempts` is the deprecated OUTBOX_MAX_ATTEMPTS: when set, it also ends
    the retries after that many attempts.
    """

    horizon: timedelta = timedelta(hours=24)
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=5)
    max_attempts: int | None = None

    def delay(self, attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:
            return min(timedelta(seconds=max(retry_after, 0.0)), LONGEST_RETRY_AFTER)
        # Full jitter keeps many replicas from retrying a recovering platform in step.
        ceiling = min(self.cap, self.base * (2 ** min(max(attempts - 1, 0), 20)))
        seconds = random.uniform(0.0, ceiling.total_seconds())
        return timedelta(seconds=max(seconds, 0.5))

    def gives_up(
        self, failure: DeliveryError, attempts: int, failing_since: datetime, now: datetime
    ) -> bool:
        if not failure.transient:
            return True
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return now - failing_since >= self.horizon
