"""The one origin a browser sees in production, for tests: a small reverse proxy in front of
the broker that sends `/websockify` to websockify and everything else to the broker, as the
HTTPS proxy on port 443 does. It routes each TCP connection by its first request's path
and then splices bytes both ways, so WebSocket upgrades pass through untouched."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.fixtures.broker import free_port

HEAD_LIMIT = 64 * 1024


def _splice(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class PathProxy:
    def __init__(self, default: tuple[str, int], routes: dict[str, tuple[str, int]], port: int | None = None):
        self.default, self.routes = default, routes
        self.port = port or free_port()  # chosen in advance: the broker and websockify must allow its origin
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _upstream(self, head: bytes) -> tuple[str, int]:
        path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
        return next((target for prefix, target in self.routes.items() if path.startswith(prefix)), self.default)

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            while True:
                client, _ = self._listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            try:
                upstream = socket.create_connection(self._upstream(head), timeout=10)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            with upstream:
                upstream.settimeout(None)
                upstream.sendall(head)
                back = threading.Thread(target=_splice, args=(upstream, client), daemon=True)
                back.start()
                _splice(client, upstream)
                back.join()

    def stop(self) -> None:
        self._listener.close()
