"""Posting a notice to Slack once, even when an earlier attempt's outcome is unknown.

Every message the outbox posts carries Slack message metadata naming the notice
(`event_type` "inhouse_notice", `event_payload` {"notice": <outbox id>}). When an
earlier attempt may have reached Slack (its process died or lost the lease
mid-delivery, or the answer was lost: `PendingNotice.maybe_sent`), the channel
first reads the conversation back (conversations.history for a top-level post,
conversations.replies for a line in a thread, with include_all_metadata) from a
little before the notice was queued, and returns the message it finds instead of
posting again (docs/architecture.md, Outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from handlers.delivery import PendingNotice

log = logging.getLogger(__name__)

# Ours: Slack's metadata event types are alphanumeric with underscores.
NOTICE_EVENT = "inhouse_notice"
# How far before the notice was queued to look: the desk's and Slack's clocks may
# differ (a notice is never posted before it is queued).
LOOKBACK_MARGIN = timedelta(minutes=10)
# A page of messages read back, and how many pages at most: a busy channel does
# not make the lookup endless (beyond them the notice is posted again, and logged).
PAGE_SIZE = 50
MOST_PAGES = 10


def notice_metadata(notice_id: int) -> dict[str, Any]:
    """The metadata that names a notice on its Slack message."""
    return {"event_type": NOTICE_EVENT, "event_payload": {"notice": notice_id}}


def names_notice(message: dict[str, Any], notice_id: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == NOTICE_EVENT and str(payload.get("notice")) == str(
        notice_id
    )


async def post_once(
    client: AsyncWebClient,
    notice: PendingNotice,
    channel: str,
    text: str,
    blocks: Sequence[Block | dict[str, Any]] | None,
    *,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """Post the notice, or find the post an earlier attempt made; its reference."""
    if notice.maybe_sent:
        earlier = await find_post(client, notice, channel, thread_ts)
        if earlier is not None:
            log.info(
                "notice %s was on Slack already (%s %s): not posted again",
                notice.id,
                channel,
                earlier,
            )
            return {"conversation": channel, "message": earlier}
    posted = await client.chat_postMessage(
        channel=channel,
        text=text,
        blocks=blocks,
        thread_ts=thread_ts,
        unfurl_links=False,
        unfurl_media=False,
        metadata=notice_metadata(notice.id),
    )
    return {"conversation": str(posted["channel"]), "message": str(posted["ts"])}


async def find_post(
    client: AsyncWebClient, notice: PendingNotice, channel: str, thread_ts: str | None
) -> str | None:
    """The ts of the message that names this notice in the conversation (in the
    thread of `thread_ts`), None when there is none.

    Slack refusing the lookup itself (a scope an old install lacks, a thread that
    was deleted) is logged and the notice is posted: at-least-once then, never
    lost. Slack being unavailable (429, 5xx, the network) raises, and the outbox
    tries again later, still looking first.
    """
    oldest = (
        f"{(notice.queued_at - LOOKBACK_MARGIN).timestamp():.6f}"
        if notice.queued_at is not None
        else None
    )
    try:
        if thread_ts is None:
            return await _in_history(client, notice.id, channel, oldest)
        return await _in_thread(client, notice.id, channel, thread_ts, oldest)
    except SlackApiError as error:
        if error.response.status_code == 429 or error.response.status_code >= 500:
            raise
        log.warning(
            "could not look for notice %s in %s (%s): posting it, maybe again",
            notice.id,
            channel,
            error.response.get("error"),
        )
        return None


async def _in_history(
    client: AsyncWebClient, notice_id: int, channel: str, oldest: str | None
) -> str | None:
    async def page(latest: str | None) -> Any:
        return await client.conversations_history(
            channel=channel,
            oldest=oldest,
            latest=latest,
            limit=PAGE_SIZE,
            include_all_metadata=True,
        )

    # Newest first; the next page is what lies before the oldest one seen.
    def before(messages: list[dict[str, Any]]) -> str | None:
        return str(messages[-1]["ts"]) if messages else None

    return await _look_through(page, None, before, notice_id, f"the history of {channel}")


async def _in_thread(
    client: AsyncWebClient, notice_id: int, channel: str, thread_ts: str, oldest: str | None
) -> str | None:
    async def page(since: str | None) -> Any:
        return await client.conversations_replies(
            channel=channel, ts=thread_ts, oldest=since, limit=PAGE_SIZE, include_all_metadata=True
        )

    # The thread's parent first, then its replies after `since`, oldest first.
    def after(messages: list[dict[str, Any]]) -> str | None:
        replies = [m for m in messages if str(m.get("ts")) != thread_ts]
        return str(replies[-1]["ts"]) if replies else None

    return await _look_through(page, oldest, after, notice_id, f"thread {thread_ts}")


async def _look_through(
    page: Callable[[str | None], Awaitable[Any]],
    first: str | None,
    next_bound: Callable[[list[dict[str, Any]]], str | None],
    notice_id: int,
    where: str,
) -> str | None:
    """Read pages (each from the bound the one before it gives) until a message
    names the notice, the pages end, or MOST_PAGES were read."""
    bound = first
    for _page in range(MOST_PAGES):
        read = await page(bound)
        messages: list[dict[str, Any]] = read.get("messages") or []
        for message in messages:
            if names_notice(message, notice_id):
                return str(message["ts"])
        bound = next_bound(messages)
        if not read.get("has_more") or bound is None:
            return None
    log.warning("notice %s: not found in %d pages of %s", notice_id, MOST_PAGES, where)
    return None


async def has_file_in_thread(client: AsyncWebClient, channel: str, thread_ts: str) -> bool:
    """Whether a file was shared in the thread (a digest's chart): files carry no
    metadata, so the chart of a digest posted before is recognised by being there."""
    page = await client.conversations_replies(channel=channel, ts=thread_ts, limit=PAGE_SIZE)
    return any(
        message.get("files")
        for message in page.get("messages") or []
        if message.get("ts") != thread_ts
    )
