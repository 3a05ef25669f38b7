"""Delivering the outbox: claim due notices, hand them to a channel, record the result.

Channels (console, Slack, Teams) plug in through the `Channel` protocol; this
module knows none of them. docs/architecture.md (Outbox) states the guarantees:

- A notice is leased for a few seconds (`Leases`) and the lease is renewed while
  the channel delivers it, so a dead process's notices are free again within one
  lease. Every write after the claim is fenced (handlers.outbox_leases): a loop
  whose lease was taken over records nothing.
- Before a channel is called, the attempt is recorded as in flight (committed).
  A notice claimed while an earlier attempt's outcome is unknown is handed over
  with `maybe_sent=True`, so a channel that can look for its earlier post (Slack,
  by the notice id in the message metadata) records that instead of posting again.
  A channel that cannot look is at-least-once for those notices.
- Transient failures are retried with capped, jittered backoff until the retry
  horizon has passed since the failures began; permanent ones are dead letters at
  once, with the reason and a short code. When a notice that was failing goes
  through, the platform is back: the others waiting out a backoff on that channel
  are due at once (those told to wait by a Retry-After keep waiting), so a long
  outage is not followed by minutes of backoff.
- Notices of one request to one recipient (a lane) go out in order: a lane's next
  notice is claimed only once the one before it is delivered or dead.
- Different conversations are delivered concurrently (at most `concurrency` at a
  time), one conversation's notices one after another in the order claimed: a
  platform's latency (100-300 ms a post) is paid once per round, not per notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.delivery_records import LIVING_MESSAGES, living_refs, remember_delivery
from handlers.delivery_types import (
    RATE_LIMITED,
    Channel,
    DeliveryError,
    DispatchReport,
    ExplainsUnreachable,
    Leases,
    PendingNotice,
    Recipient,
    RetryPolicy,
    failure_code,
)
from handlers.outbox_leases import Claim, claim, fenced_update, released, renew
from models.clock import Clock
from models.directory import Person, Team
from models.outbox import OutboxMessage

__all__ = [
    "LIVING_MESSAGES",
    "RATE_LIMITED",
    "Channel",
    "DeliveryError",
    "DispatchReport",
    "ExplainsUnreachable",
    "Leases",
    "PendingNotice",
    "Recipient",
    "RetryPolicy",
    "dispatch_due",
    "failure_code",
]

log = logging.getLogger(__name__)

# Conversations delivered at once by one dispatch loop: enough to hide a platform's
# latency, few enough to stay inside its rate limits and the database pool.
CONCURRENT_CONVERSATIONS = 8


@dataclass(frozen=True)
class _Taken:
    """What the dispatcher read of a claimed notice."""

    claim: Claim
    kind: str
    payload: dict[str, Any]
    request_id: int | None
    created_at: datetime
    attempts: int
    failing_since: datetime | None
    maybe_sent: bool
    lane: tuple[int, int | None, int | None]


async def dispatch_due(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    channels: Sequence[Channel],
    *,
    owner: str,
    batch: int = 20,
    max_rounds: int = 20,
    policy: RetryPolicy | None = None,
    leases: Leases | None = None,
    dead_letter_unreachable: bool = False,
    pace: Callable[[], Awaitable[object]] | None = None,
    concurrency: int = CONCURRENT_CONVERSATIONS,
) -> DispatchReport:
    """Deliver what is due. `owner` names this dispatch loop (one per process);
    `pace` is awaited before each notice: a serving process lets the requests it
    is answering go first (bot.traffic)."""
    run = _Run(
        sessions,
        clock,
        channels,
        owner,
        policy or RetryPolicy(),
        leases or Leases(),
        dead_letter_unreachable,
    )
    # A claim takes only the first pending notice of each lane (to keep their
    # order), so claim again while the previous round delivered something.
    for _round in range(max_rounds):
        before = run.report.delivered + run.report.dead
        claims = await claim(sessions, clock.now(), owner, batch, run.leases.duration)
        if not claims:
            break
        await _by_conversation(claims, run, pace, asyncio.Semaphore(concurrency))
        if run.report.delivered + run.report.dead == before:
            break
    return run.report


async def _by_conversation(
    claims: list[Claim],
    run: _Run,
    pace: Callable[[], Awaitable[object]] | None,
    slots: asyncio.Semaphore,
) -> None:
    """Deliver the claims, conversations side by side, each one's in order."""
    conversations: dict[str, list[Claim]] = {}
    for claimed in claims:
        conversations.setdefault(claimed.conversation, []).append(claimed)
    failures: list[BaseException] = []

    async def in_order(conversation: list[Claim]) -> None:
        async with slots:
            for claimed in conversation:
                if failures:
                    return  # the loop is failing: what is left waits for the next one
                if pace is not None:
                    await pace()
                try:
                    await run.one(claimed)
                except BaseException as error:  # re-raised below, once the others stop
                    failures.append(error)
                    return

    await asyncio.gather(*(in_order(conversation) for conversation in conversations.values()))
    # As when they went one by one, the first failure (the database away, the loop
    # cancelled) reaches the caller; deliveries already under way were finished,
    # none was started after it.
    if failures:
        raise failures[0]


@dataclass
class _Run:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    channels: Sequence[Channel]
    owner: str
    policy: RetryPolicy
    leases: Leases
    dead_letter_unreachable: bool
    report: DispatchReport = field(default_factory=DispatchReport)
    blocked: set[tuple[int, int | None, int | None]] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)  # one attempt per notice and run

    async def one(self, claimed: Claim) -> None:
        async with self.sessions.begin() as session:
            message = await session.get(OutboxMessage, claimed.id)
            # Our lease may have run out while we paced, and another loop claimed
            # the notice since: it is theirs to deliver now.
            if message is None or not _still_ours(message, claimed, self.owner):
                return
            taken = _taken(message, claimed)
            if taken.lane in self.blocked or claimed.id in self.failed:
                # An earlier notice in this lane could not be routed on this process
                # (it was released): keep the order, try later. (A failed one keeps
                # its lane waiting by itself: it is still pending.)
                await fenced_update(session, claimed, self.owner, **released())
                self.report.waiting += 1
                return
            recipient = await _recipient(session, message)
        # Outside any transaction: finding the recipient may ask a platform and
        # record what it learnt, and no lock should be held while we wait on it.
        channel = await _channel_for(self.channels, recipient)
        if channel is None:
            await self._unreachable(taken, recipient)
            return
        async with self.sessions.begin() as session:
            refs = await living_refs(session, taken.request_id, channel.name)
            now = self.clock.now()
            # In flight from here on: committed before the platform hears of it.
            in_flight = await fenced_update(
                session,
                claimed,
                self.owner,
                attempt_started_at=now,
                maybe_sent=taken.maybe_sent,
                lease_until=now + self.leases.duration,
            )
        if not in_flight:
            self.report.lost += 1
            return
        notice = PendingNotice(
            id=claimed.id,
            kind=taken.kind,
            payload=taken.payload,
            recipient=recipient,
            refs=refs,
            maybe_sent=taken.maybe_sent,
            queued_at=taken.created_at,
        )
        outcome = await self._attempt(channel, notice, claimed)
        if outcome is None:
            self._lost(taken, channel.name, "its lease was lost while it was delivered")
        elif isinstance(outcome, DeliveryError):
            await self._failed(taken, channel.name, outcome)
        else:
            await self._delivered(taken, channel.name, recipient, outcome)

    async def _attempt(
        self, channel: Channel, notice: PendingNotice, claimed: Claim
    ) -> dict[str, Any] | DeliveryError | None:
        """The channel's answer, renewing the lease while it works; None when the
        lease was lost meanwhile (the delivery is then cancelled: its new owner is
        told the notice may have been sent)."""
        task = asyncio.ensure_future(channel.deliver(notice))
        try:
            while True:
                done, _pending = await asyncio.wait({task}, timeout=self.leases.renew_every)
                if done:
                    break
                if not await self._renew(claimed):
                    task.cancel()
                    await asyncio.wait({task})
                    if not task.cancelled():
                        task.exception()  # retrieved: what it says no longer matters
                    return None
        finally:
            if not task.done():
                task.cancel()  # we are being cancelled ourselves (shutdown, a crash test)
        try:
            return task.result()
        except DeliveryError as failure:
            return failure
        except Exception as error:
            # A bug in a channel: retried like an outage (a fix deployed within the
            # horizon delivers it), and whether it reached the platform is unknown.
            log.exception("channel %s failed unexpectedly on notice %s", channel.name, notice.id)
            return DeliveryError(
                f"{channel.name}: unexpected {type(error).__name__}",
                transient=True,
                code="internal_error",
                maybe_sent=True,
            )

    async def _renew(self, claimed: Claim) -> bool:
        try:
            return await renew(
                self.sessions, claimed, self.owner, self.clock.now() + self.leases.duration
            )
        except (SQLAlchemyError, OSError) as error:
            # The database is away for a moment: keep delivering; whether the lease
            # still holds is decided by the fenced write of the outcome.
            log.warning("could not renew the lease of notice %s: %r", claimed.id, error)
            return True

    async def _delivered(
        self, taken: _Taken, channel: str, recipient: Recipient, ref: dict[str, Any]
    ) -> None:
        async with self.sessions.begin() as session:
            now = self.clock.now()
            recorded = await fenced_update(
                session,
                taken.claim,
                self.owner,
                delivered_at=now,
                channel=channel,
                message_ref=ref,
                attempts=taken.attempts + 1,
                attempt_started_at=None,
                **released(),
            )
            if recorded and taken.failing_since is not None:
                await _platform_back(session, channel, now)
            if recorded:
                await remember_delivery(
                    session,
                    request_id=taken.request_id,
                    kind=taken.kind,
                    channel=channel,
                    target=recipient.target,
                    audience="team" if recipient.team is not None else "person",
                    ref=ref,
                    now=now,
                )
        if not recorded:
            self._lost(taken, channel, "it was delivered after its lease was lost")
            return
        self.report.delivered += 1
        self.report.latencies.append((channel, (now - taken.created_at).total_seconds()))

    async def _failed(self, taken: _Taken, channel: str, failure: DeliveryError) -> None:
        now = self.clock.now()
        attempts = taken.attempts + 1
        failing_since = taken.failing_since or now
        dead = self.policy.gives_up(failure, attempts, failing_since, now)
        reason = failure.reason
        if dead and failure.transient:
            reason = f"gave up after {_span(now - failing_since)} of retries: {reason}"
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": reason[:2000],
            "error_code": failure_code(failure),
            "failing_since": failing_since,
            "attempt_started_at": None,
            "maybe_sent": taken.maybe_sent or failure.maybe_sent,
            "channel": channel,
            **released(),
        }
        if dead:
            values["dead_at"] = now
        else:
            values["next_attempt_at"] = now + self.policy.delay(attempts, failure.retry_after)
        async with self.sessions.begin() as session:
            recorded = await fenced_update(session, taken.claim, self.owner, **values)
        if not recorded:
            self._lost(taken, channel, "it failed after its lease was lost")
            return
        log.warning(
            "delivery failed",
            extra={
                "request": _key(taken.payload),
                "notice": taken.claim.id,
                "kind": taken.kind,
                "channel": channel,
                "error": failure.reason,
                "code": values["error_code"],
                "dead": dead,
            },
        )
        self.report.dead += dead
        self.report.retried += not dead
        self.report.failures.append(channel)
        self.failed.add(taken.claim.id)

    async def _unreachable(self, taken: _Taken, recipient: Recipient) -> None:
        async with self.sessions.begin() as session:
            if self.dead_letter_unreachable:
                # With a platform on, a person it cannot reach is a dead letter with
                # the reason, not a notice that waits forever.
                if await fenced_update(
                    session,
                    taken.claim,
                    self.owner,
                    attempts=taken.attempts + 1,
                    dead_at=self.clock.now(),
                    last_error=_explained(self.channels, recipient) or _unreachable(recipient),
                    error_code="no_route",
                    **released(),
                ):
                    self.report.dead += 1
                return
            await fenced_update(session, taken.claim, self.owner, **released())
        self.report.waiting += 1
        self.blocked.add(taken.lane)

    def _lost(self, taken: _Taken, channel: str, what: str) -> None:
        self.report.lost += 1
        log.warning(
            "notice %s was left to another dispatcher: %s",
            taken.claim.id,
            what,
            extra={"request": _key(taken.payload), "kind": taken.kind, "channel": channel},
        )


async def _platform_back(session: AsyncSession, channel: str, now: datetime) -> None:
    """Make the notices waiting out a backoff on `channel` due now."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.dead_at.is_(None),
            OutboxMessage.failing_since.is_not(None),
            OutboxMessage.next_attempt_at > now,
            OutboxMessage.error_code.is_distinct_from(RATE_LIMITED),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def _still_ours(message: OutboxMessage, claimed: Claim, owner: str) -> bool:
    return (
        message.delivered_at is None
        and message.dead_at is None
        and message.lease_owner == owner
        and message.lease_token == claimed.token
    )


def _taken(message: OutboxMessage, claimed: Claim) -> _Taken:
    return _Taken(
        claim=claimed,
        kind=message.kind,
        payload=message.payload,
        request_id=message.request_id,
        created_at=message.created_at,
        attempts=message.attempts,
        failing_since=message.failing_since,
        # An attempt still marked in flight when we claim it never had its
        # outcome recorded: its process died or lost the lease mid-delivery.
        maybe_sent=message.maybe_sent or message.attempt_started_at is not None,
        lane=_lane(message),
    )


async def _channel_for(channels: Sequence[Channel], recipient: Recipient) -> Channel | None:
    for channel in channels:
        if await channel.reaches(recipient):
            return channel
    return None


async def _recipient(session: AsyncSession, message: OutboxMessage) -> Recipient:
    if message.recipient_team_id is not None:
        return Recipient(team=await session.get(Team, message.recipient_team_id))
    if message.recipient_person_id is not None:
        return Recipient(person=await session.get(Person, message.recipient_person_id))
    return Recipient(destination=dict(message.payload.get("destination") or {}))


def _key(payload: dict[str, Any]) -> str | None:
    request = payload.get("request")
    return str(request.get("key")) if isinstance(request, dict) else None


def _lane(message: OutboxMessage) -> tuple[int, int | None, int | None]:
    """Notices in one lane (request and recipient) are delivered in order."""
    return (
        message.request_id or -message.id,
        message.recipient_team_id,
        message.recipient_person_id,
    )


def _span(elapsed: timedelta) -> str:
    minutes = int(elapsed.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _unreachable(recipient: Recipient) -> str:
    if recipient.team is not None:
        return (
            f"no channel reaches team {recipient.team.key}: "
            "give it a slack_channel or teams_channel"
        )
    if recipient.destination is not None:
        return f"no channel reaches the destination {recipient.destination}"
    person = recipient.person
    who = (person.email or person.display_name) if person else "?"
    return f"no channel reaches {who}: not found on any platform that is on"


def _explained(channels: Sequence[Channel], recipient: Recipient) -> str | None:
    for channel in channels:
        if isinstance(channel, ExplainsUnreachable):
            reason = channel.unreachable_because(recipient)
            if reason:
                return reason
    return None
