"""The websockify token plugin: `lookup(token)` turns a broker-signed token into the
(host, port) of the desktop it names, or refuses it."""

from __future__ import annotations

import logging
import time

from websockify.websockifyserver import WebSockifyServer

from broker.tunnels.vnc_token import WEBSOCKIFY_AUDIENCE, TokenError, verify
from deskbroker_websockify.access import Refused, open_at_broker
from deskbroker_websockify.settings import Settings
from deskbroker_websockify.single_use import AlreadyUsed, UsedTokens

# Under websockify's logger: some versions give only that one a handler.
log = logging.getLogger(f"{WebSockifyServer.log_prefix}.deskbroker")


class TokenRefused(WebSockifyServer.EClose):
    """websockify closes the connection and logs this message (which never holds the token)."""


class TokenPlugin:
    def __init__(self, source: str | None = None) -> None:
        """`source` is websockify's --token-source, unused: settings come from the environment."""
        self._settings = Settings.from_environment()
        self._used = UsedTokens(self._settings.used_tokens_dir)

    def lookup(self, token: str) -> tuple[str, int]:
        now = time.time()
        try:
            target = verify(self._settings.key, token, WEBSOCKIFY_AUDIENCE, now=now)
        except TokenError as error:
            raise TokenRefused(f"token refused: {error}") from None
        if target.port != self._settings.vnc_port:
            raise TokenRefused(
                f"token {target.jti} refused: port {target.port} is not the desktops' VNC port"
            )
        try:
            self._used.burn(target.jti, target.exp, now)
        except AlreadyUsed:
            raise TokenRefused(f"token {target.jti} refused: already used") from None
        if self._settings.broker_url:
            try:
                open_at_broker(self._settings.broker_url, token)
            except Refused as error:
                raise TokenRefused(f"token {target.jti} refused: {error}") from None
        log.info("token %s accepted for %s:%d", target.jti, target.host, target.port)
        return target.host, target.port
