"""`images test`: start each image as the broker would and prove a real VNC session works.

Per image: start on a private network (no published port) with a random password, time
run -> RFB greeting, log in, wait until the desktop is drawn, check a wrong password is
refused and the health check passes, measure memory once the session settles, and time
`docker stop`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import docker
from docker.errors import APIError, ImageNotFound
from docker.models.containers import Container

from broker.images.build import REPOSITORY
from broker.images.catalog import CatalogEntry, LabelError, entry_from_labels
from broker.rfb import AuthenticationFailed, RFBClient, RFBError, wait_for_greeting

GREETING_TIMEOUT = 30.0
DRAW_TIMEOUT = 45.0
DRAWN_THRESHOLD = 0.01  # share of non-background pixels that counts as "a desktop is drawn"
SETTLE_MIN_SECONDS = 3.0
SETTLE_TIMEOUT = 30.0
SETTLE_TOLERANCE_MIB = 1.0
SMOKE_LABEL = "io.deskbroker.smoke-test"
WRONG_PASSWORD = "not-the-password"  # VNC compares 8 characters; random ones are hex

Progress = Callable[[str], None]


class SmokeFailure(Exception):
    """An image failed one of the checks; the message says which and why."""


@dataclass
class SmokeResult:
    image: str
    size_bytes: int = 0
    greeting_seconds: float | None = None
    idle_mib: float | None = None
    stop_seconds: float | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def image_ref(name: str) -> str:
    """`xfce` -> `deskbroker/xfce:latest`; full references pass unchanged."""
    return name if ":" in name or "/" in name else f"{REPOSITORY}/{name}:latest"


def smoke_test_images(
    client: docker.DockerClient, refs: Sequence[str], progress: Progress = print
) -> list[SmokeResult]:
    network = client.networks.create(f"deskbroker-smoke-{secrets.token_hex(4)}", driver="bridge")
    try:
        return [smoke_test_image(client, ref, network.name, progress) for ref in refs]
    finally:
        network.remove()


def smoke_test_image(client: docker.DockerClient, ref: str, network: str, progress: Progress = print) -> SmokeResult:
    result = SmokeResult(ref)
    container: Container | None = None
    try:
        try:
            image = client.images.get(ref)
        except ImageNotFound as error:
            raise SmokeFailure("image not found locally: build it first") from error
        result.size_bytes = image.attrs["Size"]
        entry = entry_from_labels(ref, image.labels)
        password = secrets.token_hex(4)

        started = time.monotonic()
        container = _start(client, entry, network, password)
        address = _address(container, network)
        wait_for_greeting(address, entry.vnc_port, GREETING_TIMEOUT)
        result.greeting_seconds = time.monotonic() - started
        progress(f"{ref}: RFB greeting after {result.greeting_seconds:.2f} s")

        drawn_after = _wait_until_drawn(address, entry.vnc_port, password) - started
        progress(f"{ref}: logged in, desktop drawn after {drawn_after:.1f} s")
        _check_wrong_password_refused(address, entry.vnc_port)
        _check_health(container, image.attrs["Config"].get("Healthcheck"))
        progress(f"{ref}: wrong password refused, health check passes")

        result.idle_mib = _settled_memory_mib(container)
        progress(f"{ref}: idle at {result.idle_mib:.0f} MiB")
        result.stop_seconds = _stop(container)
        progress(f"{ref}: stopped cleanly in {result.stop_seconds:.2f} s")
    except (SmokeFailure, LabelError, RFBError, APIError) as error:
        result.failure = str(error)
        progress(f"{ref}: FAILED: {result.failure}")
    finally:
        if container is not None:
            container.remove(force=True, v=True)
    return result


def _start(client: docker.DockerClient, entry: CatalogEntry, network: str, password: str) -> Container:
    return client.containers.run(
        entry.image,
        detach=True,
        name=f"deskbroker-smoke-{entry.id}-{secrets.token_hex(3)}",
        network=network,
        environment={"VNC_PASSWORD": password},
        labels={SMOKE_LABEL: "1"},
        mem_limit=f"{entry.min_memory_mb}m",
        shm_size=f"{entry.shm_size_mb}m" if entry.shm_size_mb else None,
    )


def _address(container: Container, network: str) -> str:
    container.reload()
    address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    if not address:
        raise SmokeFailure(f"container has no address on network {network}")
    return address


def _wait_until_drawn(address: str, port: int, password: str) -> float:
    """Log in and poll the screen until something is drawn; return when (monotonic)."""
    deadline = time.monotonic() + DRAW_TIMEOUT
    with RFBClient(address, port, password) as session:
        while True:
            drawn = session.framebuffer().drawn_fraction()
            if drawn >= DRAWN_THRESHOLD:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise SmokeFailure(f"screen still blank {DRAW_TIMEOUT:g} s after login ({drawn:.2%} of pixels drawn)")
            time.sleep(0.5)


def _check_wrong_password_refused(address: str, port: int) -> None:
    try:
        RFBClient(address, port, WRONG_PASSWORD).close()
    except AuthenticationFailed:
        return
    raise SmokeFailure("a wrong VNC password was accepted")


def _check_health(container: Container, healthcheck: dict | None) -> None:
    """Run the image's HEALTHCHECK command once now instead of waiting for its interval."""
    test = (healthcheck or {}).get("Test") or []
    if not test or test[0] == "NONE":
        raise SmokeFailure("image has no HEALTHCHECK")
    command = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    exit_code, output = container.exec_run(command)
    if exit_code != 0:
        raise SmokeFailure(f"health check failed (exit {exit_code}): {output.decode()[-200:]}")


def _settled_memory_mib(container: Container) -> float:
    """Memory in use (as `docker stats` counts it) once it stops changing."""
    started = time.monotonic()
    samples: list[float] = []
    while True:
        samples.append(_memory_in_use(container) / 2**20)
        recent = samples[-3:]
        settled = len(recent) == 3 and max(recent) - min(recent) <= SETTLE_TOLERANCE_MIB
        elapsed = time.monotonic() - started
        if (settled and elapsed >= SETTLE_MIN_SECONDS) or elapsed >= SETTLE_TIMEOUT:
            return samples[-1]
        time.sleep(1.0)


def _memory_in_use(container: Container) -> int:
    stats = container.stats(stream=False, one_shot=True)
    memory = stats.get("memory_stats") or {}
    if "usage" not in memory:
        raise SmokeFailure("no memory statistics: the container is not running")
    details = memory.get("stats", {})
    # cgroup v1 names it total_inactive_file, v2 inactive_file; docker stats subtracts it.
    return memory["usage"] - details.get("total_inactive_file", details.get("inactive_file", 0))


def _stop(container: Container) -> float:
    started = time.monotonic()
    container.stop(timeout=10)
    seconds = time.monotonic() - started
    container.reload()
    exit_code = container.attrs["State"]["ExitCode"]
    if exit_code != 0:
        raise SmokeFailure(f"did not exit cleanly on docker stop (exit {exit_code} after {seconds:.1f} s)")
    return seconds
