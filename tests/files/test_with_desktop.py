"""The file manager and the desktops share the volumes: what one writes the other sees, running or
stopped; on Docker's local volumes and on shared storage (DESKBROKER_SHARED_VOLUMES, a folder here
standing for an NFS mount)."""

from __future__ import annotations

import os

import pytest

from broker.desktops.naming import home_volume_name, public_volume_name
from tests.files.conftest import listing, sha256, upload
from tests.fixtures.desktops import lifecycle_of, sign_in


def run(container, command: str) -> tuple[int, str]:
    code, output = container.exec_run(["sh", "-c", command], user="user")
    return code, output.decode().strip()


@pytest.mark.parametrize("storage", ["local volumes", "shared storage"])
def test_uploads_appear_in_the_desktop_owned_by_its_user_running_or_stopped(
    desktop_app, docker_engine, instance, tmp_path, storage
):
    shared = tmp_path / "shared"
    if storage == "shared storage":
        shared.mkdir()
        app = desktop_app(shared_volumes=str(shared))
    else:
        app = desktop_app()
    anna, tina = sign_in(app, "anna"), sign_in(app, "tina", ("teacher",))
    early = os.urandom(2**20)
    assert upload(anna, "home", files={"early.bin": early}).status_code == 201  # before any desktop
    assert upload(tina, "public", files={"Blatt 1.txt": b"Aufgabe 1\n"}).status_code == 201

    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert desktop["state"] == "running", desktop
    container = docker_engine.containers.get(desktop["container_id"])
    assert run(container, "stat -c '%u:%g %s' ~/early.bin ~") == (0, f"1000:1000 {len(early)}\n1000:1000 4096")
    assert run(container, "sha256sum ~/early.bin")[1].split()[0] == sha256(early)

    # Written in the desktop, seen by the file manager; and the other way round while it runs.
    assert run(container, "printf 'from the desktop' > ~/desk.txt")[0] == 0
    assert listing(anna, "home")["desk.txt"]["size"] == 16
    assert anna.call("get", "/api/files/home/download", query_string={"path": "desk.txt"}).data == b"from the desktop"
    during = os.urandom(3 * 2**20)
    assert upload(anna, "home", files={"während.bin": during}).status_code == 201
    assert anna.call("post", "/api/files/home/folder", json={"path": "Ordner"}).status_code == 201
    assert run(container, "sha256sum ~/während.bin")[1].split()[0] == sha256(during)
    assert run(container, "stat -c '%U:%G' ~/während.bin ~/Ordner") == (0, "user:user\nuser:user")
    assert run(container, "echo mine > ~/Ordner/x && rm ~/während.bin")[0] == 0  # the user's own files

    # The public space: read-only at /srv/public in every desktop.
    assert run(container, "cat '/srv/public/Blatt 1.txt'") == (0, "Aufgabe 1")
    code, output = run(container, "LC_ALL=C touch /srv/public/mine")
    assert code != 0 and "Read-only file system" in output
    mounts = {m["Destination"]: m["RW"] for m in docker_engine.api.inspect_container(container.id)["Mounts"]}
    assert mounts == {"/home/user": True, "/srv/public": False}

    assert anna.call("post", "/api/container/stop").get_json()["state"] == "stopped"
    assert upload(anna, "home", "Ordner", {"later.txt": b"while stopped"}).status_code == 201
    assert set(listing(anna, "home", "Ordner")) == {"x", "later.txt"}
    assert anna.call("post", "/api/container/start?desktop_type=base").get_json()["state"] == "running"
    assert run(container, "cat ~/Ordner/later.txt") == (0, "while stopped")

    if storage == "shared storage":  # the files are in each volume's own subfolder of the shared folder
        home = home_volume_name(instance, "local:anna")
        assert (shared / home / "Ordner" / "later.txt").read_bytes() == b"while stopped"
        assert (shared / home / "early.bin").read_bytes() == early
        assert (shared / public_volume_name(instance) / "Blatt 1.txt").read_bytes() == b"Aufgabe 1\n"
        assert docker_engine.api.inspect_volume(home)["Options"]["device"] == str(shared / home)
        # Her home deleted (`broker desktops delete-home`, once her desktop is removed): its files go too.
        assert anna.call("post", "/api/container/remove?desktop_type=base").status_code == 200
        assert lifecycle_of(app).provider.remove_home("local:anna") == [home]
        assert not (shared / home).exists()
