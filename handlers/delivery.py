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
- Few statements a notice: the claim returns what delivery needs and the batch's
  recipients and living messages are read once per claim; a notice's outcome
  shares its UPDATE (and transaction) with the next notice's in-flight mark, and
  with what the conversations beside it record meanwhile (handlers.grouped_writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.delivery_records import (
    LIVING_MESSAGES,
    Delivery,
    LivingRefs,
    living_refs,
    remember_deliveries,
)
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
from handlers.grouped_writes import GroupedWrites
from handlers.outbox_leases import Claim, claim, fenced_update, fenced_updates, released, renew
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
class _Batch:
    """One claim: the notices, and what was read for all of them at once (each
    conversation's recipient, the requests' living messages)."""

    claims: list[Claim]
    recipients: dict[str, Recipient]
    refs: LivingRefs


@dataclass(frozen=True)
class _Record:
    """What one conversation records at once: an outcome and the next in-flight mark."""

    writes: list[tuple[Claim, dict[str, Any]]]
    outcome: _Outcome | None


@dataclass(frozen=True)
class _Outcome:
    """An attempt's outcome, to be recorded (fenced) with the next notice's start."""

    claimed: Claim
    channel: str
    values: dict[str, Any]
    now: datetime
    recipient: Recipient
    ref: dict[str, Any] | None = None  # delivered: the platform's reference
    failure: DeliveryError | None = None
    dead: bool = False


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
    `pace` is awaited before each claim and each notice: a serving process lets
    the requests it is answering go first (bot.traffic). Before the claim too: it
    and the first notices' in-flight writes follow each other, and on SQLite an
    acknowledgement arriving meanwhile waits for all of them."""
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
        if pace is not None:
            await pace()
        taken = await _claim(sessions, clock.now(), owner, batch, run.leases.duration)
        if not taken.claims:
            break
        await _by_conversation(taken, run, pace, asyncio.Semaphore(concurrency))
        if run.report.delivered + run.report.dead == before:
            break
    return run.report


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    owner: str,
    batch: int,
    lease: timedelta,
) -> _Batch:
    """Claim a batch and read, once for all of it, whom it goes to and the living
    messages it may edit: a few statements per batch, none per notice."""
    async with sessions.begin() as session:
        claims = await claim(session, now, owner, batch, lease)
        if not claims:
            return _Batch([], {}, {})
        recipients = await _recipients(session, claims)
        refs = await living_refs(
            session, {c.request_id for c in claims if c.request_id is not None}
        )
    return _Batch(claims, recipients, refs)


async def _by_conversation(
    taken: _Batch,
    run: _Run,
    pace: Callable[[], Awaitable[object]] | None,
    slots: asyncio.Semaphore,
) -> None:
    """Deliver the claims, conversations side by side, each one's in order."""
    conversations: dict[str, list[Claim]] = {}
    for claimed in taken.claims:
        conversations.setdefault(claimed.conversation, []).append(claimed)
    failures: list[BaseException] = []

    async def in_order(key: str, conversation: list[Claim]) -> None:
        async with slots:
            try:
                await run.conversation(conversation, taken, key, pace, failures)
            except BaseException as error:  # re-raised below, once the others stop
                failures.append(error)

    await asyncio.gather(*(in_order(key, c) for key, c in conversations.items()))
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
    records: GroupedWrites[_Record, set[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = GroupedWrites(self._write)

    async def conversation(
        self,
        claims: list[Claim],
        taken: _Batch,
        key: str,
        pace: Callable[[], Awaitable[object]] | None,
        failures: list[BaseException],
    ) -> None:
        """One conversation's notices, in order. Each attempt's outcome is recorded
        in the transaction (and the UPDATE) that marks the next notice in flight,
        right after the attempt, so a notice costs one outbox write, not two; the
        last one's is recorded on its own."""
        recipient = taken.recipients[key]
        # One recipient per conversation: whether and how a channel reaches it is
        # asked once, after the first lull (as close to the post as it can be: a
        # platform installed meanwhile is used), outside any transaction (finding
        # the recipient may ask a platform and record what it learnt; no lock is
        # held while we wait).
        channel: Channel | None = None
        routed = False
        outcome: _Outcome | None = None
        try:
            for claimed in claims:
                if failures:
                    break  # the loop is failing: what is left waits for the next one
                if claimed.lane in self.blocked or claimed.id in self.failed:
                    # An earlier notice in this lane could not be routed on this process
                    # (it was released): keep the order, try later. (A failed one keeps
                    # its lane waiting by itself: it is still pending.)
                    await self._record(outcome)
                    outcome = None
                    await self._release(claimed)
                    continue
                if routed and channel is None:
                    await self._record(outcome)
                    outcome = None
                    await self._unreachable(claimed, recipient)
                    continue
                # In flight from here on: committed before the platform hears of it.
                in_flight = await self._record(outcome, start=claimed)
                outcome, started = None, (time.monotonic(), self.clock.now())
                if not in_flight:
                    # Our lease ran out (we stalled), and another loop claimed the
                    # notice since: it is theirs to deliver now (nothing of ours is lost).
                    continue
                if pace is not None:
                    await pace()
                if not routed:
                    channel, routed = await _channel_for(self.channels, recipient), True
                if channel is None:
                    await self._unreachable(claimed, recipient)
                    continue
                outcome = await self._deliver(claimed, channel, recipient, taken, started)
        except BaseException:
            if outcome is not None:
                # Posted but not yet recorded: try, or it is handed over as maybe sent.
                with contextlib.suppress(Exception):
                    await self._record(outcome)
            raise
        await self._record(outcome)

    async def _deliver(
        self,
        claimed: Claim,
        channel: Channel,
        recipient: Recipient,
        taken: _Batch,
        started: tuple[float, datetime],
    ) -> _Outcome | None:
        """Post one notice (marked in flight); its outcome, None when it was lost."""
        # Waiting for a lull (or for the platform to say whether it reaches the
        # recipient) may have taken long enough for the lease to run out and
        # another loop to claim the notice: then it is theirs to deliver, not ours
        # to post. (The lease is renewed on the clock it was taken with.)
        paused = max(time.monotonic() - started[0], (self.clock.now() - started[1]).total_seconds())
        # Strict, unlike the renewals during an attempt: unsure (the database away),
        # nothing is posted, and the notice is handed over as maybe sent.
        if paused > self.leases.renew_every and not await renew(
            self.sessions, claimed, self.owner, self.clock.now() + self.leases.duration
        ):
            return None  # not attempted: theirs to deliver now
        notice = PendingNotice(
            id=claimed.id,
            kind=claimed.kind,
            payload=claimed.payload,
            recipient=recipient,
            refs=taken.refs.get((claimed.request_id, channel.name), {})
            if claimed.request_id is not None
            else {},
            maybe_sent=claimed.maybe_sent,
            queued_at=claimed.created_at,
        )
        result = await self._attempt(channel, notice, claimed)
        if result is None:
            self._lost(claimed, channel.name, "its lease was lost while it was delivered")
            return None
        if isinstance(result, DeliveryError):
            return self._failed(claimed, channel.name, recipient, result)
        now = self.clock.now()
        return _Outcome(
            claimed,
            channel.name,
            {
                "delivered_at": now,
                "channel": channel.name,
                "message_ref": result,
                "attempts": claimed.attempts + 1,
                "attempt_started_at": None,
                **released(),
            },
            now,
            recipient,
            ref=result,
        )

    async def _record(self, outcome: _Outcome | None, start: Claim | None = None) -> bool:
        """Write `outcome` (if any) and mark `start` (if any) in flight, fenced, in
        one transaction and one UPDATE, shared with what the conversations beside
        this one are recording meanwhile; whether `start` is in flight."""
        writes: list[tuple[Claim, dict[str, Any]]] = []
        if outcome is not None:
            writes.append((outcome.claimed, outcome.values))
        if start is not None:
            now = self.clock.now()
            writes.append(
                (
                    start,
                    {
                        "attempt_started_at": now,
                        "maybe_sent": start.maybe_sent,
                        "lease_until": now + self.leases.duration,
                    },
                )
            )
        if not writes:
            return False
        written = await self.records.submit(_Record(writes, outcome))
        if outcome is not None:
            self._recorded(outcome, outcome.claimed.id in written)
        return start is not None and start.id in written

    async def _write(self, group: list[_Record]) -> set[int]:
        """The records of a group in one transaction: the ids this loop still held,
        and what the delivered ones among them left on the platform."""
        async with self.sessions.begin() as session:
            written = await fenced_updates(
                session, self.owner, [write for record in group for write in record.writes]
            )
            outcomes = [record.outcome for record in group if record.outcome is not None]
            # The delivered ones (they have the platform's reference) we still held.
            delivered = [o for o in outcomes if o.ref is not None and o.claimed.id in written]
            for outcome in delivered:
                if outcome.claimed.failing_since is not None:
                    await _platform_back(session, outcome.channel, outcome.now)
            await remember_deliveries(session, [_delivery(outcome) for outcome in delivered])
        return written

    def _recorded(self, outcome: _Outcome, written: bool) -> None:
        claimed, channel = outcome.claimed, outcome.channel
        if outcome.failure is None:
            if not written:
                self._lost(claimed, channel, "it was delivered after its lease was lost")
                return
            self.report.delivered += 1
            assert claimed.created_at is not None
            self.report.latencies.append(
                (channel, (outcome.now - claimed.created_at).total_seconds())
            )
            return
        if not written:
            self._lost(claimed, channel, "it failed after its lease was lost")
            return
        log.warning(
            "delivery failed",
            extra={
                "request": _key(claimed.payload),
                "notice": claimed.id,
                "kind": claimed.kind,
                "channel": channel,
                "error": outcome.failure.reason,
                "code": outcome.values["error_code"],
                "dead": outcome.dead,
            },
        )
        self.report.dead += outcome.dead
        self.report.retried += not outcome.dead
        self.report.failures.append(channel)
        self.failed.add(claimed.id)

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

    def _failed(
        self, claimed: Claim, channel: str, recipient: Recipient, failure: DeliveryError
    ) -> _Outcome:
        now = self.clock.now()
        attempts = claimed.attempts + 1
        failing_since = claimed.failing_since or now
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
            "maybe_sent": claimed.maybe_sent or failure.maybe_sent,
            "channel": channel,
            **released(),
        }
        if dead:
            values["dead_at"] = now
        else:
            values["next_attempt_at"] = now + self.policy.delay(attempts, failure.retry_after)
        return _Outcome(claimed, channel, values, now, recipient, failure=failure, dead=dead)

    async def _release(self, claimed: Claim) -> None:
        async with self.sessions.begin() as session:
            await fenced_update(session, claimed, self.owner, **_not_attempted(claimed))
        self.report.waiting += 1

    async def _unreachable(self, claimed: Claim, recipient: Recipient) -> None:
        async with self.sessions.begin() as session:
            if self.dead_letter_unreachable:
                # With a platform on, a person it cannot reach is a dead letter with
                # the reason, not a notice that waits forever.
                if await fenced_update(
                    session,
                    claimed,
                    self.owner,
                    attempts=claimed.attempts + 1,
                    dead_at=self.clock.now(),
                    last_error=_explained(self.channels, recipient) or _unreachable(recipient),
                    error_code="no_route",
                    **_not_attempted(claimed),
                ):
                    self.report.dead += 1
                return
            await fenced_update(session, claimed, self.owner, **_not_attempted(claimed))
        self.report.waiting += 1
        self.blocked.add(claimed.lane)

    def _lost(self, claimed: Claim, channel: str, what: str) -> None:
        self.report.lost += 1
        log.warning(
            "notice %s was left to another dispatcher: %s",
            claimed.id,
            what,
            extra={"request": _key(claimed.payload), "kind": claimed.kind, "channel": channel},
        )


def _delivery(outcome: _Outcome) -> Delivery:
    assert outcome.ref is not None
    return Delivery(
        request_id=outcome.claimed.request_id,
        kind=outcome.claimed.kind,
        channel=outcome.channel,
        target=outcome.recipient.target,
        audience="team" if outcome.recipient.team is not None else "person",
        ref=outcome.ref,
        now=outcome.now,
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


async def _channel_for(channels: Sequence[Channel], recipient: Recipient) -> Channel | None:
    for channel in channels:
        if await channel.reaches(recipient):
            return channel
    return None


async def _recipients(session: AsyncSession, claims: list[Claim]) -> dict[str, Recipient]:
    """Each conversation's recipient: the batch's teams and people in a read each."""
    team_ids = {c.team_id for c in claims if c.team_id is not None}
    person_ids = {c.person_id for c in claims if c.person_id is not None}
    teams = (
        {t.id: t for t in await session.scalars(select(Team).where(Team.id.in_(team_ids)))}
        if team_ids
        else {}
    )
    people = (
        {p.id: p for p in await session.scalars(select(Person).where(Person.id.in_(person_ids)))}
        if person_ids
        else {}
    )
    recipients: dict[str, Recipient] = {}
    for c in claims:
        if c.team_id is not None:
            recipients[c.conversation] = Recipient(team=teams.get(c.team_id))
        elif c.person_id is not None:
            recipients[c.conversation] = Recipient(person=people.get(c.person_id))
        else:
            recipients[c.conversation] = Recipient(
                destination=dict(c.payload.get("destination") or {})
            )
    return recipients


def _not_attempted(claimed: Claim) -> dict[str, Any]:
    """Ending a claim without an attempt: its in-flight mark (if this claim set one
    before it found no route) is cleared, and whether an earlier attempt may have
    reached the platform is kept."""
    return {"attempt_started_at": None, "maybe_sent": claimed.maybe_sent, **released()}


def _key(payload: dict[str, Any]) -> str | None:
    request = payload.get("request")
    return str(request.get("key")) if isinstance(request, dict) else None


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
