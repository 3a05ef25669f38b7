"""slack_sdk's own retries: for what the desk asks Slack while someone waits
(listeners, the command pump), connection errors, 429 (honouring Retry-After) and
5xx, twice each; for the outbox's deliveries, only a connection that could not be
opened."""

from __future__ import annotations

from aiohttp import ClientConnectorError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)


def retry_handlers() -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def delivery_retry_handlers() -> list[AsyncRetryHandler]:
    """For the outbox's deliveries: only a connection that could not be opened is
    retried at once (the request never left). A dropped connection, a 5xx or a
    timeout may come after Slack posted the message, and a blind retry would post
    it twice; a 429 would hold the one dispatch loop for its Retry-After. Those go
    back to the outbox, which retries with backoff, honours Retry-After, and looks
    for an earlier post first (message metadata) when one may have reached Slack."""
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2, error_types=[ClientConnectorError])]
