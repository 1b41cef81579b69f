"""A volume's files, out and in, through the engine's archive API: a helper container (created, never
started, with no network) mounts the volume, and the engine reads or writes its files as a tar
stream, owners, modes and times kept. So the broker needs no path on the engine's host."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import docker
from docker.models.containers import Container
from docker.models.volumes import Volume

from broker.desktops.provider import BROKER_LABEL
from broker.desktops.volume_storage import VolumeStorage

MOUNT = "/volume"  # where the helper mounts it; the archive's entries start with "volume/"
BACKUP_LABEL = "io.deskbroker.backup"  # on the helper containers, so a crash's leftovers can be found


def of_instance(client: docker.DockerClient, instance: str) -> list[Volume]:
    """Every volume the instance made: homes, the public space, assignment folders."""
    return sorted(client.volumes.list(filters={"label": f"{BROKER_LABEL}={instance}"}), key=lambda v: v.name)


@contextmanager
def _mounted(client: docker.DockerClient, image: str, volume: str, read_only: bool) -> Iterator[Container]:
    helper = client.containers.create(
        image,
        entrypoint=["true"],
        name=f"deskbroker-backup-{uuid.uuid4().hex[:12]}",
        labels={BACKUP_LABEL: "1"},
        network_mode="none",
        volumes={volume: {"bind": MOUNT, "mode": "ro" if read_only else "rw"}},
    )
    try:
        yield helper
    finally:
        helper.remove(force=True)


def save(client: docker.DockerClient, image: str, volume: str, out: BinaryIO) -> int:
    """The volume's files as a tar stream into `out`; the bytes written."""
    written = 0
    with _mounted(client, image, volume, read_only=True) as helper:
        chunks, _stat = helper.get_archive(MOUNT)
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
    return written


def exists(client: docker.DockerClient, volume: str) -> bool:
    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        return False
    return True


def is_empty(client: docker.DockerClient, image: str, volume: str) -> bool:
    """Whether the volume holds no file: the archive is read only up to its first entry below the root."""
    with _mounted(client, image, volume, read_only=True) as helper:
        chunks, _stat = helper.get_archive(MOUNT)
        with tarfile.open(fileobj=_Stream(chunks), mode="r|") as archive:
            return all(entry.name.rstrip("/") == MOUNT.strip("/") for entry in archive)


class _Stream(io.RawIOBase):
    """A file to read from an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.rest = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.rest:
            self.rest = next(self.chunks, None)
            if self.rest is None:
                self.rest = b""
                return 0
        size = min(len(buffer), len(self.rest))
        buffer[:size], self.rest = self.rest[:size], self.rest[size:]
        return size


def load(
    client: docker.DockerClient,
    storage: VolumeStorage,
    image: str,
    volume: str,
    labels: dict[str, str],
    archive: BinaryIO,
) -> None:
    """Make the volume (with its labels, where this installation keeps volumes) and put the files of a
    tar stream from save() into it."""
    storage.create(client, volume, labels)
    with _mounted(client, image, volume, read_only=False) as helper:
        if not helper.put_archive("/", archive):
            raise docker.errors.APIError(f"the engine did not take the files of {volume}")
