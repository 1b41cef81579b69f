"""Start websockify with the deskbroker token plugin and token-free logs."""

from __future__ import annotations

import logging
import sys

from websockify import websocketproxy

from deskbroker_websockify.access import AccessCheckedProxy
from deskbroker_websockify.plugin import OriginCheck, TokenPlugin
from deskbroker_websockify.redaction import RedactingLogRecord
from deskbroker_websockify.settings import SettingsError


def main() -> None:
    logging.setLogRecordFactory(RedactingLogRecord)  # before websockify logs anything
    try:
        TokenPlugin()  # check the settings and the marker directory now, with a clear message
    except (SettingsError, OSError) as error:
        sys.exit(f"websockify: {error}")
    sys.argv[1:1] = ["--token-plugin", f"{TokenPlugin.__module__}.{TokenPlugin.__qualname__}",
                     "--auth-plugin", f"{OriginCheck.__module__}.{OriginCheck.__qualname__}"]
    # websockify_init makes its server from this name: ours relays with the broker's watch (access.py).
    websocketproxy.WebSocketProxy = AccessCheckedProxy
    websocketproxy.websockify_init()


if __name__ == "__main__":
    main()
