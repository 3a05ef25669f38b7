"""Delivering the outbox: claim due notices, hand them to a channel, record the result.

Channels (console, Slack, Teams) plug in through the `Channel` protocol; this
module knows none of them. Delivery is at-least-once: a crash after a channel
sent a notice but before it was marked delivered sends it again, and a card
update carries the stored platform reference, so a repeat edits in place.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from handlers.inbound import thread_of
from handlers.notices import NoticeKind
from models.clock import Clock
from models.directory import Person, Team
from models.outbox import MessageRef, OutboxMessage, ThreadLink

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# Messages that live on and are edited in place; the rest are posted once.
LIVING_MESSAGES = {
    NoticeKind.TEAM_CARD.value: "team_card",
    NoticeKind.RESOLVED.value: "survey",
    NoticeKind.SURVEY_ANSWERED.value: "survey",
}


class DeliveryError(Exception):
    """A channel could not deliver; `transient` ones are retried with backoff."""

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class Recipient:
    """A person (a DM), a team (its channel), or a named destination such as the
    organisation-wide digest channel: {"slack_channel": ..., "teams_channel": ...}."""

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
    id: int
    kind: str
    payload: dict[str, Any]
    recipient: Recipient
    # Platform references of this request's living messages on the chosen channel,
    # by purpose ("team_card", "survey"): where to edit, which thread to reply in.
    refs: dict[str, dict[str, Any]] = field(default_factory=dict)


class Channel(Protocol):
    name: str

    async def reaches(self, recipient: Recipient) -> bool:
        """Whether this channel can deliver to the recipient (may look them up)."""
        ...

    async def deliver(self, notice: PendingNotice) -> dict[str, Any]:
        """Send or edit; return the platform reference of the message.

        A reference with "conversation" and "message" keys is remembered, so
        replies and reactions to that message find their request.
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
    # (channel, seconds from queued to delivered) per delivery, for monitoring
    latencies: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the channel of each failed attempt


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:
            return timedelta(seconds=retry_after)
        # Full jitter keeps many replicas from retrying a recovering platform in step.
        ceiling = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        return timedelta(seconds=random.uniform(0.5, 1.0) * ceiling.total_seconds())


async def dispatch_due(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    channels: Sequence[Channel],
    *,
    owner: str,
    batch: int = 100,
    max_rounds: int = 20,
    policy: RetryPolicy | None = None,
    dead_letter_unreachable: bool = False,
    pace: Callable[[], Awaitable[object]] | None = None,
) -> DispatchReport:
    """Deliver what is due. `pace` is awaited before each notice: a serving
    process lets the requests it is answering go first (bot.traffic)."""
    policy = policy or RetryPolicy()
    report = DispatchReport()
    blocked: set[tuple[int, int | None, int | None]] = set()
    # A claim takes only the first pending notice of each request (to keep their
    # order), so claim again while the previous round delivered something.
    for _round in range(max_rounds):
        before = report.delivered
        claimed = await _claim(sessions, clock.now(), owner, batch)
        if not claimed:
            break
        await _deliver_claimed(
            sessions,
            clock,
            channels,
            claimed,
            blocked,
            policy,
            report,
            dead_letter_unreachable,
            pace,
            owner,
        )
        if report.delivered == before:
            break
    return report


async def _deliver_claimed(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    channels: Sequence[Channel],
    claimed: list[int],
    blocked: set[tuple[int, int | None, int | None]],
    policy: RetryPolicy,
    report: DispatchReport,
    dead_letter_unreachable: bool,
    pace: Callable[[], Awaitable[object]] | None,
    owner: str,
) -> None:
    for message_id in claimed:
        if pace is not None:
            await pace()
        async with sessions.begin() as session:
            message = await session.get(OutboxMessage, message_id)
            # Our lease may have run out while we paced, and another process
            # claimed the notice since: it is theirs to deliver now.
            if message is None or message.delivered_at is not None or message.lease_owner != owner:
                continue
            lane = _lane(message)
            if lane in blocked:
                # An earlier notice in this lane failed: keep the order, try later.
                _release(message)
                report.waiting += 1
                continue
            recipient = await _recipient(session, message)
            kind, payload = message.kind, message.payload
        # Outside any transaction: finding the recipient may ask a platform and
        # record what it learnt, and no lock should be held while we wait on it.
        channel = await _channel_for(channels, recipient)
        async with sessions.begin() as session:
            message = await session.get(OutboxMessage, message_id)
            assert message is not None
            if channel is None:
                if dead_letter_unreachable:
                    message.attempts += 1
                    message.dead_at = clock.now()
                    message.last_error = _explained(channels, recipient) or _unreachable(recipient)
                    message.lease_owner = message.lease_until = None
                    report.dead += 1
                    continue
                _release(message)
                report.waiting += 1
                blocked.add(lane)
                continue
            refs = await _refs(session, message, channel.name)
        notice = PendingNotice(
            id=message_id, kind=kind, payload=payload, recipient=recipient, refs=refs
        )
        try:
            ref = await channel.deliver(notice)
        except DeliveryError as failure:
            async with sessions.begin() as session:
                message = await session.get(OutboxMessage, message_id)
                assert message is not None
                dead = _failed(message, failure, clock.now(), policy)
                key = _key(payload)
            log.warning(
                "delivery failed",
                extra={
                    "request": key,
                    "notice": message_id,
                    "kind": kind,
                    "channel": channel.name,
                    "error": failure.reason,
                    "dead": dead,
                },
            )
            report.dead += dead
            report.retried += not dead
            report.failures.append(channel.name)
            blocked.add(lane)
            continue
        async with sessions.begin() as session:
            message = await session.get(OutboxMessage, message_id)
            assert message is not None
            await _delivered(session, message, channel.name, recipient, ref, clock.now())
            queued_at = message.created_at
        report.delivered += 1
        report.latencies.append((channel.name, (clock.now() - queued_at).total_seconds()))


async def _channel_for(channels: Sequence[Channel], recipient: Recipient) -> Channel | None:
    for channel in channels:
        if await channel.reaches(recipient):
            return channel
    return None


async def _claim(
    sessions: async_sessionmaker[AsyncSession], now: datetime, owner: str, batch: int
) -> list[int]:
    earlier = aliased(OutboxMessage)
    # In order per request and recipient: a notice waits while an earlier one of the
    # same request to the same recipient is pending. Different recipients don't wait
    # on each other (the team channel must not stall behind a requester's DM). One
    # held for the recipient's working hours and never tried holds nothing back: an
    # urgent escalation at 04:00 must not wait for Monday behind the 03:00 one.
    earlier_pending = (
        select(earlier.id)
        .where(
            earlier.request_id == OutboxMessage.request_id,
            earlier.recipient_team_id.is_not_distinct_from(OutboxMessage.recipient_team_id),
            earlier.recipient_person_id.is_not_distinct_from(OutboxMessage.recipient_person_id),
            earlier.id < OutboxMessage.id,
            earlier.delivered_at.is_(None),
            earlier.dead_at.is_(None),
            or_(earlier.attempts > 0, earlier.next_attempt_at <= now),
        )
        .exists()
    )
    async with sessions.begin() as session:
        rows = await session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.dead_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
                or_(OutboxMessage.request_id.is_(None), ~earlier_pending),
            )
            .order_by(OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        ids = list(rows)
        if ids:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(lease_owner=owner, lease_until=now + LEASE)
            )
    return ids


async def _recipient(session: AsyncSession, message: OutboxMessage) -> Recipient:
    if message.recipient_team_id is not None:
        return Recipient(team=await session.get(Team, message.recipient_team_id))
    if message.recipient_person_id is not None:
        return Recipient(person=await session.get(Person, message.recipient_person_id))
    return Recipient(destination=dict(message.payload.get("destination") or {}))


async def _refs(
    session: AsyncSession, message: OutboxMessage, channel: str
) -> dict[str, dict[str, Any]]:
    if message.request_id is None:
        return {}
    rows = await session.scalars(
        select(MessageRef).where(
            MessageRef.request_id == message.request_id, MessageRef.channel == channel
        )
    )
    return {row.purpose: row.ref for row in rows}


async def _delivered(
    session: AsyncSession,
    message: OutboxMessage,
    channel: str,
    recipient: Recipient,
    ref: dict[str, Any],
    now: datetime,
) -> None:
    message.delivered_at = now
    message.channel = channel
    message.message_ref = ref
    message.attempts += 1
    message.lease_owner = message.lease_until = None
    if message.request_id is None:
        return
    if "conversation" in ref and "message" in ref:
        await _link_thread(session, message, channel, recipient, ref, now)
    purpose = LIVING_MESSAGES.get(message.kind)
    if purpose is None:
        return
    existing = await session.scalar(
        select(MessageRef).where(
            and_(
                MessageRef.request_id == message.request_id,
                MessageRef.channel == channel,
                MessageRef.purpose == purpose,
                MessageRef.target == recipient.target,
            )
        )
    )
    if existing is None:
        session.add(
            MessageRef(
                request_id=message.request_id,
                channel=channel,
                purpose=purpose,
                target=recipient.target,
                ref=ref,
                updated_at=now,
            )
        )
    else:
        existing.ref, existing.updated_at = ref, now


async def _link_thread(
    session: AsyncSession,
    message: OutboxMessage,
    channel: str,
    recipient: Recipient,
    ref: dict[str, Any],
    now: datetime,
) -> None:
    assert message.request_id is not None
    conversation, posted = str(ref["conversation"]), str(ref["message"])
    if await thread_of(session, channel, conversation, posted) is not None:
        return  # an edit of a message we already know
    session.add(
        ThreadLink(
            channel=channel,
            conversation=conversation,
            message=posted,
            request_id=message.request_id,
            audience="team" if recipient.team is not None else "person",
            kind=message.kind,
            created_at=now,
        )
    )


def _failed(
    message: OutboxMessage, failure: DeliveryError, now: datetime, policy: RetryPolicy
) -> bool:
    message.attempts += 1
    message.last_error = failure.reason[:2000]
    message.lease_owner = message.lease_until = None
    if not failure.transient or message.attempts >= policy.max_attempts:
        message.dead_at = now
        return True
    message.next_attempt_at = now + policy.delay(message.attempts, failure.retry_after)
    return False


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


def _release(message: OutboxMessage) -> None:
    message.lease_owner = message.lease_until = None
