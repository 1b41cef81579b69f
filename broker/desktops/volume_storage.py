"""Where the volumes (homes, the public space, assignment folders) keep their files.

By default each is a plain local Docker volume on the node that first mounts it: on a Swarm of
several nodes, a desktop that starts on another node finds another, empty home there. With a shared
folder (DESKBROKER_SHARED_VOLUMES: NFS, CephFS or the like, mounted at the same path on every node
and in the broker), each volume is a local volume bound to its own subfolder there, so every node's
engine mounts the same files: a person's home follows them to whichever node runs their desktop.
The volumes keep their names and labels, so backups, the file manager and housekeeping see no
difference.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import DriverConfig, Mount

from broker.desktops.provider import DESKTOP_USER
from broker.engine import ProviderError


@dataclass(frozen=True)
class VolumeStorage:
    shared: str = ""  # the shared folder; empty: plain local volumes

    def folder(self, name: str) -> Path | None:
        """The volume's subfolder of the shared folder; None for plain local volumes."""
        return Path(self.shared, name) if self.shared else None

    def options(self, name: str) -> dict[str, str] | None:
        """The local driver's options that bind the volume to its shared subfolder."""
        folder = self.folder(name)
        return None if folder is None else {"type": "none", "o": "bind", "device": str(folder)}

    def mount(self, target: str, name: str, labels: dict[str, str], read_only: bool = False) -> Mount:
        """The volume at `target` in a container or service; any node's engine makes it as it should be."""
        options = self.options(name)
        driver = None if options is None else DriverConfig("local", options)
        return Mount(target, name, type="volume", read_only=read_only, labels=labels, driver_config=driver)

    def prepare(self, client: docker.DockerClient, name: str, labels: dict[str, str]) -> None:
        """Before a volume is mounted anywhere. Shared: made now (see create), so the broker's own engine
        knows it whichever node mounts it (backups and listings find it). Plain: nothing, the engine
        that first mounts it makes it."""
        if self.shared:
            self.create(client, name, labels)

    def create(self, client: docker.DockerClient, name: str, labels: dict[str, str]) -> None:
        """Make the volume on this engine now; a shared one's subfolder first, the desktop user's."""
        folder = self.folder(name)
        if folder is not None:
            try:
                folder.mkdir(mode=0o755, exist_ok=True)
                if folder.stat().st_uid != DESKTOP_USER[0]:
                    os.chown(folder, *DESKTOP_USER)
            except OSError as error:
                raise ProviderError(
                    f"The volume {name} cannot be made in the shared folder {self.shared} ({error.strerror}): "
                    f"the broker has to see that folder at the same path as the nodes do, may write in it, and "
                    f"runs as the desktop user (uid {DESKTOP_USER[0]}) or as root."
                ) from None
        client.volumes.create(name, driver="local", driver_opts=self.options(name), labels=labels)

    def erase(self, name: str) -> None:
        """The volume's files, once the engine has let its volume go; plain volumes went with it."""
        folder = self.folder(name)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
