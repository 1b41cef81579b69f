"""The file manager against real Docker volumes (the engine is required: the tests fail without it).

The file manager does not depend on the kind of database (the desktops' tests cover both), so
these tests run on SQLite only.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from broker.db import make_engine, upgrade
from broker.desktops.naming import home_volume_name, public_volume_name


@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def upload(person, space: str, folder: str = "", files: dict[str, bytes] | None = None, **query: str):
    """POST the files as multipart/form-data, as a browser's FormData does."""
    data = {"files": [(io.BytesIO(content), name) for name, content in (files or {}).items()]}
    return person.call(
        "post",
        f"/api/files/{space}/upload",
        query_string={"path": folder, **query},
        data=data,
        content_type="multipart/form-data",
    )


def listing(person, space: str, path: str = "") -> dict[str, dict]:
    answer = person.call("get", f"/api/files/{space}/list", query_string={"path": path})
    assert answer.status_code == 200, answer.get_json()
    return {entry["name"]: entry for entry in answer.get_json()["entries"]}


def volume_folder(docker_engine, name: str) -> Path:
    return Path(docker_engine.api.inspect_volume(name)["Mountpoint"])


def home_of(docker_engine, instance: str, username: str) -> Path:
    return volume_folder(docker_engine, home_volume_name(instance, f"local:{username}"))


def public_of(docker_engine, instance: str) -> Path:
    return volume_folder(docker_engine, public_volume_name(instance))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything under `root` (links not followed): path -> (kind, mode, owner, content digest or target)."""
    found: dict[str, tuple] = {}
    for folder, folders, names in os.walk(root):
        for name in folders + names:
            path = Path(folder, name)
            info = path.lstat()
            if path.is_symlink():
                what = ("link", os.readlink(path))
            elif path.is_file():
                what = ("file", sha256(path.read_bytes()))
            else:
                what = ("folder" if path.is_dir() else "other", "")
            found[str(path.relative_to(root))] = (*what, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns)
    return found
