"""Run guacd next to a broker on one Docker engine (the quickstart; compose does it otherwise)."""

from __future__ import annotations

import socket
import time

from docker.errors import NotFound

from broker.config import Settings
from broker.desktops.docker import DockerProvider
from broker.desktops.provider import BROKER_LABEL

GUACD_IMAGE = "deskbroker/guacd:latest"


def start_guacd(settings: Settings) -> str:
    """Start (or keep) `<instance>-guacd` on the desktop network; return its address there."""
    provider = DockerProvider(settings)
    provider.ensure_network()
    client = provider.client
    name = f"{settings.instance}-guacd"
    try:
        container = client.containers.get(name)
        if container.status != "running":
            container.start()
    except NotFound:
        # The instance label lets `broker desktops` housekeeping tell it apart from desktops it may remove.
        container = client.containers.run(GUACD_IMAGE, name=name, detach=True, network=settings.desktop_network,
                                          labels={BROKER_LABEL: settings.instance},
                                          restart_policy={"Name": "unless-stopped"})
    container.reload()
    address = container.attrs["NetworkSettings"]["Networks"][settings.desktop_network]["IPAddress"]
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((address, settings.guacd_port), timeout=1).close()
            return address
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
