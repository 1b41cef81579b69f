"""Whole WebSocket frames on the wire, and a close that lets the browser answer.

simple-websocket (under flask-sock) writes each frame with one `socket.send()`, which may
write only part of a large frame (simple-websocket issue #45, unfixed in 1.1.0): the rest is
lost and the browser's stream is corrupt. And the relay's two greenlets may both send (data,
ping answers), so frames must not interleave either. The server socket is wrapped before the
WebSocket is made from it. simple-websocket's server close sends the close frame and lets the
socket go at once; the tunnel's route waits for the browser's answer first (await_close_reply).
"""

from __future__ import annotations

import threading
from typing import Any

SERVER_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


class WholeFrames:
    """A socket whose send() writes everything it is given, one caller at a time."""

    def __init__(self, sock: Any):
        self._sock = sock
        self._lock = threading.Lock()  # gevent-patched under `broker serve`: a greenlet lock

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def send_whole_frames(environ: dict) -> None:
    for key in SERVER_SOCKET_KEYS:
        if key in environ and not isinstance(environ[key], WholeFrames):
            environ[key] = WholeFrames(environ[key])


CLOSE_REPLY_SECONDS = 2.0  # how long an ended tunnel waits for the browser's own close frame


def await_close_reply(ws: Any) -> None:
    """After the close frame, a moment for the browser's answer before the socket goes (RFC 6455
    7.1.1). Letting it go at once resets a connection whose browser is still answering a `sync`: a
    browser that takes the reset can drop what it has not read yet, the `error` that says why."""
    reader = getattr(ws, "thread", None)  # simple-websocket's; it ends at the browser's next frame
    if reader is not None:
        reader.join(CLOSE_REPLY_SECONDS)
