"""`broker tier start`: run guacd next to a broker on one Docker engine (the quickstart; compose does it
otherwise)."""

from __future__ import annotations

import socket
import time

from docker.errors import NotFound

from broker.config import Settings
from broker.desktops.docker import DockerProvider
from broker.desktops.provider import BROKER_LABEL

GUACD_IMAGE = "deskbroker/guacd:latest"
# As in docker-compose.yml: no capability, no privilege gain, nothing written but /tmp, and
# bounded (guacd forks a process per connection; a class of 100 stays well inside these).
HARDENED = {
    "read_only": True,
    "tmpfs": {"/tmp": "size=64m"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "mem_limit": "2g",
    "pids_limit": 1024,
}


def start_guacd(settings: Settings) -> str:
    """Start (or keep) `<instance>-guacd` on the desktop network; return its address there."""
    provider = DockerProvider(settings.desktops)
    provider.ensure_network()
    client = provider.client
    name = f"{settings.desktops.instance}-guacd"
    try:
        container = client.containers.get(name)
        if container.status != "running":
            container.start()
    except NotFound:
        # The instance label lets `broker desktops` housekeeping tell it apart from desktops it may remove.
        container = client.containers.run(
            GUACD_IMAGE,
            name=name,
            detach=True,
            network=settings.desktops.desktop_network,
            labels={BROKER_LABEL: settings.desktops.instance},
            restart_policy={"Name": "unless-stopped"},
            **HARDENED,
        )
    container.reload()
    address = container.attrs["NetworkSettings"]["Networks"][settings.desktops.desktop_network]["IPAddress"]
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((address, settings.tier.guacd_port), timeout=1).close()
            return address
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
