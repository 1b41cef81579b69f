"""Tokens never reach the logs: websockify logs the request path (`?token=...`) of every
connection it proxies, and some of its errors quote the token."""

from __future__ import annotations

import logging
import re

_TOKENS = re.compile(
    r"(?<=token=)[^&\s'\"]+"  # a query parameter
    r"|eyJ[\w-]*\.[\w-]+\.[\w-]+",  # anything shaped like a JWT, wherever it appears
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _TOKENS.sub(REDACTED, text)


class RedactingLogRecord(logging.LogRecord):
    """Install with logging.setLogRecordFactory before anything logs."""

    def getMessage(self) -> str:
        return redact(super().getMessage())
