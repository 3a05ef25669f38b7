"""The log's last guard: whatever a library or an exception carries, no Slack secret
reaches a log line, in either LOG_FORMAT, at any level."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bot.log_redaction import REDACTED, RedactingFormatter
from bot.logging_json import JsonFormatter

SECRETS = [
    "xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-1234567890123-1234567890123-1234567890123-0123456789abcdef",
    "xoxe.xoxb-1-MS0yLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIzLTEy",
    "xoxe-1-My0xLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIzLTEyMzQ1",
    "xapp-1-A0APP-1234567890123-0123456789abcdef",
    "https://hooks.slack.com/services/T0TEAM000/B0HOOK000/abcdefghijklmnopqrstuvwx",
]


def record(
    message: str, *args: object, level: int = logging.DEBUG, **extra: object
) -> logging.LogRecord:
    made = logging.LogRecord("lib", level, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


@pytest.mark.parametrize(
    "inner",
    [logging.Formatter("%(levelname)s %(name)s: %(message)s"), JsonFormatter()],
    ids=["text", "json"],
)
@pytest.mark.parametrize("secret", SECRETS)
def test_secrets_are_blanked_in_messages_fields_and_tracebacks(
    inner: logging.Formatter, secret: str
) -> None:
    formatter = RedactingFormatter(inner)
    records = [
        record("response: %s", {"ok": True, "access_token": secret}),
        record("calling", level=logging.ERROR, token=secret),  # shown by the json format
    ]
    try:
        raise RuntimeError(f"The server responded with: {secret}")
    except RuntimeError:
        records.append(record("failed", level=logging.ERROR))
        records[-1].exc_info = sys.exc_info()
    carried = 0
    for made in records:
        shown = formatter.format(made)
        assert secret not in shown
        if secret in inner.format(made):
            carried += 1
            assert REDACTED in shown
    assert carried >= 2  # the message and the traceback did carry it


def test_ordinary_lines_pass_unchanged() -> None:
    formatter = RedactingFormatter(JsonFormatter())
    line = json.loads(formatter.format(record("request %s", "filed", request="IT-1")))
    assert line["message"] == "request filed" and line["request"] == "IT-1"


def test_the_oauth_code_in_an_access_log_line_is_blanked() -> None:
    formatter = RedactingFormatter(logging.Formatter("%(message)s"))
    line = formatter.format(
        record('127.0.0.1 "GET /slack/oauth_redirect?code=1234.5678.abcdef&state=s1 HTTP/1.1" 200')
    )
    assert "1234.5678.abcdef" not in line
    assert "/slack/oauth_redirect?code=[redacted]&state=s1" in line
