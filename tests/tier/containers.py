"""Helpers for tests against the tier's containers."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from docker.models.containers import Container

VNC_PORT = 5901
GUACD_PORT = 4822
WEBSOCKIFY_PORT = 6080
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

