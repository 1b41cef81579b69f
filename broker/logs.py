"""Logging with secrets kept out: configured values and session tokens are masked."""

from __future__ import annotations

import logging
import re

from broker.config import Settings

# ?session_id=…, ?token=… and Bearer tokens, wherever they turn up in a message.
_TOKENS = re.compile(r"((?:session_id|token)=|Bearer\s+)[^\s&\"']+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKENS.sub(r"\1***", message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(settings.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.core.log_level)
