"""Backup and restore end to end, with the real commands: an installation on PostgreSQL with people,
files in homes, the public space and an assignment folder, an admin's desktop type and a running
desktop is backed up while it runs; everything is wiped (containers, volumes, the database); the
backup is restored into a new database, and people sign in and find it all as it was. Restored once
onto local volumes, once onto shared storage (DESKBROKER_SHARED_VOLUMES): the way an installation
moves its homes there."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker.app import create_app
from broker.desktops.naming import home_volume_name
from broker.models import DesktopType, User
from tests.files.conftest import listing, upload
from tests.fixtures.broker import make_settings, settings_env
from tests.fixtures.desktops import PASSWORD, Person, desktop_overrides, lifecycle_of, remove_everything_of, sign_in


def run(command: str, database_url: str, instance: str, archive: Path, check: bool = True, **overrides: str):
    env = {**os.environ, **settings_env(database_url=database_url, **desktop_overrides(instance, **overrides))}
    done = subprocess.run(
        [sys.executable, "-m", "broker", command, str(archive)], env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def signed_in(app, username: str) -> Person:
    client = app.test_client()
    answer = client.post("/api/auth/local/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return Person(client, username, answer.get_json()["session_token"])


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("restored_onto", ["local volumes", "shared storage"])
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_back_up_wipe_restore_and_everyone_finds_their_files_and_types(
    desktop_app, database_url, postgres, docker_engine, instance, tmp_path, restored_onto
):
    app = desktop_app()
    anna, tom = sign_in(app, "anna"), sign_in(app, "tom", ("teacher",))
    home = {"Übung – Brüche.txt": "Grüße ✓\n".encode(), "big.bin": os.urandom(5 * 2**20 + 3)}
    assert upload(anna, "home", files=home).status_code == 201
    assert upload(tom, "public", files={"Regeln.pdf": b"%PDF-1.4 rules"}).status_code == 201
    boss = sign_in(app, "boss", ("admin",))
    with lifecycle_of(app).sessions() as db:
        db.add(
            DesktopType(
                id="physik", image="deskbroker/base:latest", title_en="Physics", title_de="Physik", source="admin"
            )
        )
        db.commit()
        anna_id = db.query(User).filter_by(username="anna").one().id
    made = boss.call(
        "post", "/api/teacher/assignments", json={"desktop_type": "physik", "user_id": anna_id, "folder": "Aufgabe 1"}
    )
    assert made.status_code == 201, made.get_json()
    assignment_space = made.get_json()["space"]
    assert upload(boss, assignment_space, files={"blatt.txt": b"Aufgabenblatt"}).status_code == 201

    # Anna's desktop runs, and she writes into her home from inside it while the backup is taken.
    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert desktop["state"] == "running"
    container = docker_engine.containers.get(desktop["container_id"])
    assert container.exec_run(["sh", "-c", "echo aus dem Desktop > ~/notiz.txt"], user="user").exit_code == 0

    archive = tmp_path / "deskbroker.backup.tar"
    done = run("backup", database_url, instance, archive)
    assert "database:" in done.stderr and "volume 1/" in done.stderr  # progress, step by step
    assert archive.exists() and not archive.with_name(archive.name + ".partial").exists()

    # The machine is gone: containers, volumes, networks, the database.
    remove_everything_of(docker_engine, instance)
    fresh = postgres.new_database()  # not even migrated: `broker restore` does it
    storage = {}
    if restored_onto == "shared storage":
        (tmp_path / "shared").mkdir()
        storage = {"shared_volumes": str(tmp_path / "shared")}
    done = run("restore", fresh, instance, archive, **storage)
    assert "restored" in done.stdout
    if storage:
        home_folder = tmp_path / "shared" / home_volume_name(instance, "local:anna")
        assert (home_folder / "notiz.txt").read_bytes() == b"aus dem Desktop\n"
        assert home_folder.stat().st_uid == 1000

    restored = create_app(make_settings(database_url=fresh, **desktop_overrides(instance, **storage)))
    anna, tom, boss = signed_in(restored, "anna"), signed_in(restored, "tom"), signed_in(restored, "boss")
    for name, data in home.items():
        got = anna.call("get", "/api/files/home/download", query_string={"path": name})
        assert got.status_code == 200 and digest(got.data) == digest(data), name
    assert anna.call("get", "/api/files/home/download", query_string={"path": "notiz.txt"}).data == b"aus dem Desktop\n"
    assert tom.call("get", "/api/files/public/download", query_string={"path": "Regeln.pdf"}).data == b"%PDF-1.4 rules"
    assert set(listing(boss, assignment_space)) == {"blatt.txt"}
    with lifecycle_of(restored).sessions() as db:
        physik = db.get(DesktopType, "physik")
        assert (physik.title_de, physik.source) == ("Physik", "admin")

    # Her desktop is there, stopped, saying why; it starts again, in a new container, with her home.
    [shown] = anna.call("get", "/api/container/list").get_json()["desktops"]
    assert shown["state"] == "stopped" and "backup" in shown["reason"]
    started = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert started["state"] == "running" and started["container_id"] != desktop["container_id"]
    inside = docker_engine.containers.get(started["container_id"]).exec_run(
        ["cat", "/home/user/notiz.txt"], user="user"
    )
    assert inside.output == b"aus dem Desktop\n"

    # A second restore would overwrite what people did since: refused, saying why, nothing changed.
    refused = run("restore", fresh, instance, archive, check=False, **storage)
    assert refused.returncode != 0 and "not empty" in refused.stderr
