"""The last guard on the log: Slack tokens and webhook URLs are blanked from every line.

The desk's own log calls never pass a secret; this catches what a library or an
exception message might carry (a token in an error body, a webhook URL in a
traceback), at any level, whichever format the log is written in.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# Bot, user, app-level and refresh tokens (xoxb-…, xoxp-…, xapp-…, xoxe-…, and
# rotating ones such as xoxe.xoxb-1-…), and incoming-webhook URLs.
_SECRETS = re.compile(
    r"\bxox[a-z](?:\.xox[a-z])?-[A-Za-z0-9.-]+"
    r"|\bxapp-[A-Za-z0-9-]+"
    r"|https://hooks\.slack\.com/\S+"
)
# The OAuth code in /slack/oauth_redirect?code=… (the access log writes request
# lines): with the client secret it is exchanged for the tokens.
_OAUTH_CODE = re.compile(r"([?&]code=)[^&\s\"]+")


def redact(text: str) -> str:
    return _OAUTH_CODE.sub(rf"\g<1>{REDACTED}", _SECRETS.sub(REDACTED, text))


class RedactingFormatter(logging.Formatter):
    """Formats with `inner`, then blanks every secret in the result (message,
    extra fields and traceback alike)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record))
