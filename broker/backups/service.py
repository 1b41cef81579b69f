"""`broker backup` and `broker restore`: the database and the instance's volumes in one tar file.

The file holds `database.json` (every table's rows, one moment), `volumes/<name>.tar` (each
volume's files) and, last, `manifest.json` (format, time, instance, schema revision, volumes with
their labels and sizes). A backup is written next to its name and renamed when complete, so a
file of that name is always a whole backup.

A restore goes into an installation with an empty database at the same schema revision (the
same broker version) and the same DESKBROKER_INSTANCE (volume names carry it); volumes that exist
must be empty. Desktops come back stopped, without containers and with new VNC passwords: their
containers are not in a backup, and the secret key that encrypted the old passwords need not be
the same; connections open at the backup's moment are closed.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from sqlalchemy import Engine, delete, update

from broker import crypto
from broker.backups import database, volumes
from broker.config import Settings
from broker.db import current_revision, make_sessionmaker, utcnow
from broker.desktops.service import new_vnc_password
from broker.desktops.volume_storage import VolumeStorage
from broker.errors import Conflict, Invalid
from broker.models import Connection, Desktop

FORMAT = 1
MANIFEST, DATABASE = "manifest.json", "database.json"
RESTORED = "Restored from a backup: start it again."
Progress = Callable[[str], None]


@dataclass
class Summary:
    rows: int
    volumes: int
    volume_bytes: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.rows} rows and {self.volumes} volumes ({_mib(self.volume_bytes)} of files) in {self.seconds:.1f} s"
        )


def backup(settings: Settings, engine: Engine, client: docker.DockerClient, path: Path, progress: Progress) -> Summary:
    began = time.monotonic()
    partial = path.with_name(path.name + ".partial")
    made = volumes.of_instance(client, settings.desktops.instance)
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "instance": settings.desktops.instance,
        "schema_revision": current_revision(engine),
        "volumes": [],
    }
    try:
        with tarfile.open(partial, "w") as archive:
            progress("database: reading every table at one moment ...")
            rows = dict(database.export_rows(engine))
            _add_bytes(archive, DATABASE, json.dumps(rows, ensure_ascii=False).encode())
            count = sum(map(len, rows.values()))
            progress(f"database: {count} rows of {len(rows)} tables")
            for n, volume in enumerate(made, 1):
                with tempfile.TemporaryFile(dir=path.parent) as files:
                    size = volumes.save(client, settings.desktops.netguard_image, volume.name, files)
                    files.seek(0)
                    info = tarfile.TarInfo(f"volumes/{volume.name}.tar")
                    info.size, info.mtime = size, int(time.time())
                    archive.addfile(info, files)
                manifest["volumes"].append({"name": volume.name, "labels": volume.attrs["Labels"] or {}, "bytes": size})
                progress(f"volume {n}/{len(made)}: {volume.name} ({_mib(size)})")
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    total = sum(v["bytes"] for v in manifest["volumes"])
    return Summary(count, len(made), total, time.monotonic() - began)


def restore(settings: Settings, engine: Engine, client: docker.DockerClient, path: Path, progress: Progress) -> Summary:
    began = time.monotonic()
    with tarfile.open(path, "r") as archive:
        manifest = _manifest(archive)
        _check(settings, engine, client, manifest)
        progress("database: reading the backup ...")
        rows = json.loads(archive.extractfile(DATABASE).read())
        count = database.import_rows(engine, rows)
        _settle(settings, engine)
        progress(f"database: {count} rows restored")
        storage = VolumeStorage(settings.desktops.shared_volumes)
        for n, volume in enumerate(manifest["volumes"], 1):
            files = archive.extractfile(f"volumes/{volume['name']}.tar")
            volumes.load(client, storage, settings.desktops.netguard_image, volume["name"], volume["labels"], files)
            progress(f"volume {n}/{len(manifest['volumes'])}: {volume['name']} ({_mib(volume['bytes'])})")
    total = sum(v["bytes"] for v in manifest["volumes"])
    return Summary(count, len(manifest["volumes"]), total, time.monotonic() - began)


def _manifest(archive: tarfile.TarFile) -> dict:
    try:
        manifest = json.loads(archive.extractfile(MANIFEST).read())
    except (KeyError, AttributeError, json.JSONDecodeError):
        raise Invalid("This is not a deskbroker backup, or an incomplete one (it has no manifest).") from None
    if manifest.get("format") != FORMAT:
        raise Invalid(f"This backup's format ({manifest.get('format')}) is not one this broker reads ({FORMAT}).")
    return manifest


def _check(settings: Settings, engine: Engine, client: docker.DockerClient, manifest: dict) -> None:
    """Refuse before changing anything: another instance, another schema, data in the way."""
    if manifest["instance"] != settings.desktops.instance:
        raise Invalid(
            f"This backup is of the instance {manifest['instance']!r}; set DESKBROKER_INSTANCE={manifest['instance']} "
            "to restore it (its volumes' names carry it)."
        )
    revision = current_revision(engine)
    if manifest["schema_revision"] != revision:
        raise Invalid(
            f"This backup has the database schema {manifest['schema_revision']}, this database {revision}: restore "
            "with the broker version that made it (after `broker db upgrade`), then upgrade."
        )
    if not database.is_empty(engine):
        raise Conflict("The database is not empty: restore into a new installation (a new database).")
    for volume in manifest["volumes"]:
        if volumes.exists(client, volume["name"]) and not volumes.is_empty(
            client, settings.desktops.netguard_image, volume["name"]
        ):
            raise Conflict(f"The volume {volume['name']} exists and holds files: remove it or restore elsewhere.")


def _settle(settings: Settings, engine: Engine) -> None:
    """What ran at the backup's moment does not run now: desktops stopped, without containers, with new
    VNC passwords; the pool's desktops gone; open connections closed."""
    now = utcnow()
    with make_sessionmaker(engine)() as db:
        db.execute(delete(Desktop).where(Desktop.user_id.is_(None)))
        db.execute(
            update(Connection)
            .where(Connection.ended_at.is_(None))
            .values(ended_at=now, end_reason="the installation was restored from a backup")
        )
        for desktop in db.query(Desktop).all():
            desktop.state, desktop.state_reason, desktop.state_changed_at = "stopped", RESTORED, now
            desktop.container_id, desktop.address = None, None
            desktop.vnc_password_encrypted = crypto.encrypt(settings.core.secret_key, new_vnc_password())
        db.commit()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
