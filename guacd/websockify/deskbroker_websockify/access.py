"""Access that ends while a noVNC connection runs ends the connection.

With DESKBROKER_URL set, the token plugin asks the broker before it proxies (`open`: the broker
burns the token's record and checks that the sign-in, the account and the desktop's run it was
issued under still hold), and the handler process relaying the connection asks again every second
(`AccessWatch`). Once the broker answers that the access ended, the watch shuts the desktop side
down and the browser gets a close frame with the broker's reason. Standard library only.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from websockify.websocketproxy import ProxyRequestHandler, WebSocketProxy
from websockify.websockifyserver import WebSockifyServer

log = logging.getLogger(f"{WebSockifyServer.log_prefix}.deskbroker")
TIMEOUT = 5.0  # seconds for one question to the broker
CLOSE_ACCESS_ENDED = 4001  # the close code a connection whose access ended gets, with the reason


class Refused(Exception):
    """The broker refused the token, or could not be asked (then nothing is proxied either)."""


@dataclass(frozen=True)
class Grant:
    broker_url: str
    connection_id: str
    key: str
    check_every: float

    def url(self, suffix: str = "") -> str:
        return (f"{self.broker_url}/api/tunnels/novnc/{urllib.parse.quote(self.connection_id)}{suffix}"
                f"?key={self.key}")


_granted: Grant | None = None  # set by the plugin's lookup, taken by the handler in the same process


def _call(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


def open_at_broker(broker_url: str, token: str) -> Grant:
    """Ask the broker whether the token's access holds; remember its grant for this process's handler."""
    global _granted
    try:
        status, answer = _call("POST", f"{broker_url}/api/tunnels/novnc/open", {"token": token})
    except (OSError, ValueError) as error:
        raise Refused(f"the broker cannot be asked ({type(error).__name__})") from None
    if status != 201:
        raise Refused(f"the broker refused it: {answer.get('message') or status}")
    _granted = Grant(broker_url, answer["connection_id"], answer["key"], float(answer.get("check_every", 1.0)))
    return _granted


def take_grant() -> Grant | None:
    global _granted
    grant, _granted = _granted, None
    return grant


class AccessWatch(threading.Thread):
    """Asks the broker about one connection every `check_every` seconds; when its access ended, notes
    why and calls `end` (from this thread). A broker that cannot be asked ends nothing."""

    def __init__(self, grant: Grant, end) -> None:
        super().__init__(daemon=True, name="access-watch")
        self.grant, self.end = grant, end
        self.reason: str | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.grant.check_every):
            try:
                status, answer = _call("GET", self.grant.url())
            except (OSError, ValueError) as error:
                log.warning("could not ask the broker about connection %s: %s", self.grant.connection_id,
                            type(error).__name__)
                continue
            if status == 410:
                self.reason = answer.get("message") or "Access to this desktop ended."
                log.info("connection %s ended by the broker: %s", self.grant.connection_id, answer.get("error"))
                self.end()
                return

    def stop(self) -> None:
        self._stop.set()


class AccessCheckedHandler(ProxyRequestHandler):
    """websockify's handler with the broker's watch over the connection it relays."""

    def get_target(self, target_plugin):
        target = super().get_target(target_plugin)
        self.grant = take_grant()
        return target

    def do_proxy(self, target):
        grant = getattr(self, "grant", None)
        if grant is None:
            return super().do_proxy(target)
        watch = AccessWatch(grant, lambda: _shut(target))
        watch.start()
        try:
            super().do_proxy(target)
        except Exception:
            if watch.reason:  # the desktop side was shut down by the watch, not by the desktop
                raise self.CClose(CLOSE_ACCESS_ENDED, watch.reason) from None
            raise
        finally:
            watch.stop()
            try:
                _call("POST", grant.url("/end"))
            except (OSError, ValueError):
                pass  # the broker's housekeeping ends a connection nobody vouches for


def _shut(sock: socket.socket) -> None:
    """The relay's next read from the desktop side finds its end; websockify closes the socket itself
    afterwards (a full shutdown here would make its own fail)."""
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


class AccessCheckedProxy(WebSocketProxy):
    def __init__(self, RequestHandlerClass=AccessCheckedHandler, *args, **kwargs):  # noqa: N803 - websockify's name
        super().__init__(RequestHandlerClass, *args, **kwargs)
