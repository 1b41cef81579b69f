"""Helpers for tests against the tier's containers."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import websocket
from docker.models.containers import Container

VNC_PORT = 5901
GUACD_PORT = 4822
WEBSOCKIFY_PORT = 6080
SITE = "https://desk.school.example"  # the broker's public URL, as websockify is told it
RUN_LABEL = "io.deskbroker.tier-test"  # marks what a run started, for its cleanup


@dataclass(frozen=True)
class Service:
    container: Container
    name: str  # resolvable by the other containers on the network
    address: str  # reachable from this host


@dataclass(frozen=True)
class Desktop(Service):
    password: str


def wait_for_port(address: str, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def address_of(container: Container) -> str:
    """The container's address on its (one) network, as the engine says now."""
    container.reload()
    return next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]


def logs(container: Container) -> str:
    return container.logs().decode(errors="replace")


def wait_for_log(container: Container, text: str, since: int = 0, timeout: float = 5) -> str:
    """The container's log once `text` is in it after position `since` (a length of the
    log taken earlier); handlers log from forked processes, a moment later."""
    deadline = time.monotonic() + timeout
    while text not in (output := logs(container))[since:]:
        assert time.monotonic() < deadline, f"{text!r} never logged; log:\n{output[-2000:]}"
        time.sleep(0.05)
    return output


def run_healthcheck(container: Container) -> None:
    """Run the image's HEALTHCHECK command once now instead of waiting for its interval."""
    test = container.attrs["Config"]["Healthcheck"]["Test"]
    command = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    exit_code, output = container.exec_run(command)
    assert exit_code == 0, f"health check failed: {output.decode(errors='replace')}"


def stop_cleanly(container: Container) -> float:
    started = time.monotonic()
    container.stop(timeout=10)
    seconds = time.monotonic() - started
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0, logs(container)[-2000:]
    return seconds


class WebSocketStream:
    """A WebSocket seen as a byte stream, so the RFB client can run through websockify."""

    def __init__(self, connection: websocket.WebSocket, already_read: bytes = b"") -> None:
        self._connection = connection
        self._pending = already_read

    def recv(self, size: int, /) -> bytes:
        if not self._pending:
            try:
                self._pending = self._connection.recv()
            except websocket.WebSocketTimeoutException as error:
                raise TimeoutError(str(error)) from error
            except websocket.WebSocketConnectionClosedException:
                return b""
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk

    def sendall(self, data: bytes, /) -> None:
        self._connection.send_binary(data)

    def close(self) -> None:
        self._connection.close()
