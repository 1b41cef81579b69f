"""The translation tier for real: a desktop, guacd and websockify on one private network.

Needs a Docker engine (scripts/ensure-docker.sh) and fails, never skips, without one.
Nothing is published on a host port; the tests reach the containers by their addresses
on the network, as the broker does. Everything started here is removed afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator

import docker
import pytest
from docker.errors import NotFound
from docker.models.networks import Network

from broker.engine import docker_client
from broker.images.build import BuildResult, build_images
from broker.rfb import wait_for_greeting
from tests.tier.containers import (
    GUACD_PORT,
    RUN_LABEL,
    SITE,
    VNC_PORT,
    WEBSOCKIFY_PORT,
    Desktop,
    Service,
    wait_for_port,
)


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    return docker_client()


@pytest.fixture(scope="session")
def tier_images(engine: docker.DockerClient) -> dict[str, BuildResult]:
    started = time.monotonic()
    results = build_images(engine, ["base", "guacd", "websockify"], progress=lambda line: None)
    print(f"\nbuild of base + guacd + websockify: {time.monotonic() - started:.1f} s")
    for result in results:
        print(f"  {result.tags[0]}: {result.size_bytes / 1e6:.0f} MB, {result.seconds:.1f} s")
    return {result.name: result for result in results}


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def network(engine: docker.DockerClient, run_id: str) -> Iterator[Network]:
    network = engine.networks.create(f"deskbroker-tier-{run_id}", driver="bridge", labels={RUN_LABEL: run_id})
    yield network
    for container in engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}, ignore_removed=True):
        with contextlib.suppress(NotFound):
            container.remove(force=True)
    network.remove()


@pytest.fixture(scope="session")
def start(engine: docker.DockerClient, network: Network, run_id: str, tier_images):
    """Start a container of ours on the test network; removed with the network."""

    def start(image: str, role: str, **options: object) -> Service:
        name = f"deskbroker-tier-{role}-{run_id}"
        container = engine.containers.run(
            image,
            detach=True,
            name=name,
            network=network.name,
            labels={RUN_LABEL: run_id},
            **options,
        )
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        return Service(container, name, address)

    return start


@pytest.fixture(scope="session")
def desktop(start) -> Desktop:
    password = secrets.token_hex(4)
    service = start("deskbroker/base:latest", "desktop", environment={"VNC_PASSWORD": password})
    wait_for_greeting(service.address, VNC_PORT, timeout=30)
    return Desktop(service.container, service.name, service.address, password)


@pytest.fixture(scope="session")
def guacd(start) -> Service:
    service = start("deskbroker/guacd:latest", "guacd", read_only=True)
    wait_for_port(service.address, GUACD_PORT)
    return service


@pytest.fixture(scope="session")
def websockify_key() -> bytes:
    return secrets.token_urlsafe(32).encode()


@pytest.fixture(scope="session")
def websockify(start, websockify_key: bytes, tmp_path_factory: pytest.TempPathFactory) -> Service:
    """With the key as a mounted file, as a Docker secret would be, on a read-only root."""
    key_file = tmp_path_factory.mktemp("websockify") / "vnc_token_key"
    key_file.write_bytes(websockify_key + b"\n")
    key_file.chmod(0o644)  # the container's user must read it, as with a secret's mode
    service = start(
        "deskbroker/websockify:latest",
        "websockify",
        environment={"VNC_TOKEN_KEY_FILE": "/run/secrets/vnc_token_key", "ALLOWED_ORIGINS": SITE},
        volumes={str(key_file): {"bind": "/run/secrets/vnc_token_key", "mode": "ro"}},
        read_only=True,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"},
    )
    wait_for_port(service.address, WEBSOCKIFY_PORT)
    return service
