"""`broker tier start`: run a pool of guacd next to a broker on one Docker engine (the quickstart;
compose does it otherwise)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from docker.errors import NotFound

from broker.config import Settings
from broker.desktops.docker import DockerProvider
from broker.desktops.provider import BROKER_LABEL
from broker.tunnels.guacd import RECORDING_PATH

GUACD_IMAGE = "deskbroker/guacd:latest"
# As in docker-compose.yml: no capability, no privilege gain, nothing written but /tmp, and
# bounded (guacd forks a process per connection; a class of 100 stays well inside these, even on one).
HARDENED = {
    "read_only": True,
    "tmpfs": {"/tmp": "size=64m"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "mem_limit": "2g",
    "pids_limit": 1024,
}
# When the machine's CPU runs short (a class's desktops all booting), the tier's work goes first: a
# handshake and a screen's first frame are what people wait for, a desktop's boot is not. Docker's
# default weight is 1024, a desktop's too: as in docker-compose.yml, the tier weighs eight of them.
TIER_CPU_SHARES = 8192


def recordings_mount(directory: str) -> dict:
    """How guacd gets the broker's recordings directory as its /recordings. guacd writes its files
    for its own user only (0600), so it runs as the directory's owner, the broker's user (compose
    runs it as 1000, the broker's uid, likewise); a broker running as root reads anything, and guacd
    keeps its own user then, writing through the directory's group (never as root)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o2770)  # nobody else: recordings show what people did
    owner = path.stat()
    mount = {"volumes": {str(path.resolve()): {"bind": RECORDING_PATH, "mode": "rw"}}}
    if owner.st_uid == 0:
        return mount | {"group_add": [str(owner.st_gid)]}
    return mount | {"user": f"{owner.st_uid}:{owner.st_gid}"}


def pool_size() -> int:
    """guacd instances for this machine: one per core, at least two. guacd takes handshakes one at a
    time (guacd/README.md), so a class arriving at once waits on their turns; more instances, more at once."""
    return max(2, os.cpu_count() or 1)


def start_guacd_pool(settings: Settings, size: int | None = None) -> list[str]:
    """Start (or keep) `<instance>-guacd-1` … `-<size>` on the desktop network; their host:port there."""
    provider = DockerProvider(settings.desktops)
    provider.ensure_network()
    try:  # the single guacd of earlier quickstarts: the pool replaces it
        provider.client.containers.get(f"{settings.desktops.instance}-guacd").remove(force=True)
    except NotFound:
        pass
    return [
        f"{_start_guacd(provider, settings, f'{settings.desktops.instance}-guacd-{n}')}:{settings.tier.guacd_port}"
        for n in range(1, (size or pool_size()) + 1)
    ]


def _start_guacd(provider: DockerProvider, settings: Settings, name: str) -> str:
    """Start (or keep) one guacd container; return its address on the desktop network once it listens."""
    client = provider.client
    recordings = recordings_mount(settings.tier.recording_dir)
    try:
        container = client.containers.get(name)
        if not any(mount["Destination"] == RECORDING_PATH for mount in container.attrs.get("Mounts", [])):
            container.remove(force=True)  # made before session recordings: made again, with them
            raise NotFound(name)
        container.update(cpu_shares=TIER_CPU_SHARES)  # one made before the tier had its weight
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
            cpu_shares=TIER_CPU_SHARES,
            **HARDENED,
            **recordings,
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
