"""A restore refuses, before changing anything, what it cannot restore faithfully, and says why."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from broker.backups import service
from broker.db import make_engine
from broker.errors import Invalid
from tests.fixtures.broker import make_settings


def archive(path, **members: bytes):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def manifest(**values) -> bytes:
    return json.dumps({"format": 1, "instance": "school", "schema_revision": "x", "volumes": [], **values}).encode()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_what_is_no_backup_another_instance_or_schema_is_refused(database_url, tmp_path):
    settings, engine = make_settings(database_url=database_url, instance="school"), make_engine(database_url)
    cases = {
        "no manifest": (archive(tmp_path / "a.tar", **{"database.json": b"{}"}), "not a deskbroker backup"),
        "a newer format": (archive(tmp_path / "b.tar", **{"manifest.json": manifest(format=9)}), "format (9)"),
        "another instance": (
            archive(tmp_path / "c.tar", **{"manifest.json": manifest(instance="other")}),
            "DESKBROKER_INSTANCE=other",
        ),
        "another schema": (archive(tmp_path / "d.tar", **{"manifest.json": manifest()}), "schema x"),
    }
    try:
        for case, (path, said) in cases.items():
            with pytest.raises(Invalid) as refused:
                service.restore(settings, engine, None, path, progress=lambda _line: None)
            assert said in str(refused.value), case
    finally:
        engine.dispose()
