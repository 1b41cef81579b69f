"""The websockify plugins: `TokenPlugin.lookup(token)` turns a broker-signed token into the
(host, port) of the desktop it names, or refuses it; `OriginCheck` lets only the broker's own
pages connect (a browser sends their Origin by itself)."""

from __future__ import annotations

import logging
import time

from websockify.auth_plugins import AuthenticationError
from websockify.websockifyserver import WebSockifyServer

from broker.origins import check_origin
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


class OriginCheck:
    """websockify's auth plugin: refuse (HTTP 403) a connection from any page but the broker's.

    websockify asks it after the token plugin, so a refused page has spent the token: a page that
    holds someone's token is no friend anyway."""

    def __init__(self, source: str | None = None) -> None:
        self._allowed = Settings.from_environment().origins

    def authenticate(self, headers, target_host: str, target_port: int) -> None:
        refused = check_origin(headers.get("Origin"), self._allowed)
        if refused:
            raise AuthenticationError(log_msg=f"connection refused: {refused}", response_code=403,
                                      response_msg="Origin not allowed")
