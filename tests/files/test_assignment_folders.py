"""Assignment folders end to end on the real engine: the teacher fills the folder in the file manager,
the students' desktops of the type mount it read-only at /home/user/<folder> (a running one lists it
in `folders_pending` until its next start), and it goes again."""

from __future__ import annotations

import pytest
from docker.errors import NotFound
from sqlalchemy import select

from broker.housekeeping import Report, remove_gone_folders
from broker.models import DesktopTypeAssignment, Group, User
from tests.files.conftest import listing, upload
from tests.files.test_with_desktop import run
from tests.fixtures.desktops import lifecycle_of, sign_in


def mounts_of(docker_engine, container_id: str) -> dict[str, bool]:
    return {m["Destination"]: m["RW"] for m in docker_engine.api.inspect_container(container_id)["Mounts"]}


def folders_pending(person) -> list[str]:
    """What the person's running desktop does not mount yet, as their dashboard's list shows it."""
    [desktop] = person.call("get", "/api/container/list").get_json()["desktops"]
    return desktop["folders_pending"]


def test_a_folder_the_teacher_fills_appears_read_only_in_the_students_desktop(desktop_app, docker_engine, instance):
    app = desktop_app()
    tess, anna, ben = sign_in(app, "tess", ("teacher",)), sign_in(app, "anna"), sign_in(app, "ben")
    with lifecycle_of(app).sessions() as db:
        group = Group(
            key="5a",
            name="Klasse 5a",
            members=list(db.scalars(select(User).where(User.username.in_(["tess", "anna"])))),
        )
        db.add(group)
        db.commit()
        group_id = group.id

    before = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert before["state"] == "running" and before["folders_pending"] == [], before
    made = tess.call(
        "post", "/api/teacher/assignments", json={"desktop_type": "base", "group_id": group_id, "folder": "Mathe"}
    )
    assert made.status_code == 201, made.get_json()
    space = made.get_json()["space"]
    # Her running desktop cannot mount it yet (mounts are fixed per container): her list says it is due.
    assert folders_pending(anna) == ["Mathe"]
    assert upload(tess, space, files={"Blatt 1.txt": b"Aufgabe 1\n"}).status_code == 201
    assert tess.call("post", f"/api/files/{space}/folder", json={"path": "Lösungen"}).status_code == 201

    # anna may read the folder in the file manager, not change it; ben may not even see it.
    info = anna.call("get", f"/api/files/{space}").get_json()
    assert (info["writable"], info["title"]) == (False, "Mathe")
    assert set(listing(anna, space)) == {"Blatt 1.txt", "Lösungen"}
    assert upload(anna, space, files={"mine.txt": b"x"}).status_code == 403
    assert ben.call("get", f"/api/files/{space}").status_code == 404

    # The desktop she had before gets the folder with its next start, in a new container.
    stopped = anna.call("post", "/api/container/stop").get_json()
    assert (stopped["state"], stopped["folders_pending"]) == ("stopped", [])
    after = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert after["state"] == "running" and after["container_id"] != before["container_id"]
    assert after["folders_pending"] == [] and folders_pending(anna) == []
    with pytest.raises(NotFound):
        docker_engine.containers.get(before["container_id"])
    container = docker_engine.containers.get(after["container_id"])
    assert run(container, "ls ~/Mathe") == (0, "Blatt 1.txt\nLösungen")
    assert run(container, "cat ~/Mathe/'Blatt 1.txt'") == (0, "Aufgabe 1")
    code, output = run(container, "LC_ALL=C touch ~/Mathe/mine")
    assert code != 0 and "Read-only file system" in output
    assert mounts_of(docker_engine, container.id) == {
        "/home/user": True,
        "/srv/public": False,
        "/home/user/Mathe": False,
    }
    # What the teacher adds later is there at once.
    assert upload(tess, space, "Lösungen", {"1.txt": b"42\n"}).status_code == 201
    assert run(container, "cat ~/Mathe/Lösungen/1.txt") == (0, "42")

    # Removed: the next start has no folder, and once no container uses its volume, housekeeping deletes it.
    lifecycle = lifecycle_of(app)
    with lifecycle.sessions() as db:
        volume = db.get(DesktopTypeAssignment, made.get_json()["id"]).volume
    assert tess.call("delete", f"/api/teacher/assignments/{made.get_json()['id']}").status_code == 200
    assert docker_engine.volumes.get(volume)  # still in use by anna's container
    assert folders_pending(anna) == []  # a folder that went is nothing new to restart for
    assert anna.call("post", "/api/container/stop").get_json()["state"] == "stopped"
    again = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert "/home/user/Mathe" not in mounts_of(docker_engine, again["container_id"])
    assert run(docker_engine.containers.get(again["container_id"]), "ls -A ~/Mathe") == (0, "")
    report = Report()
    with lifecycle.sessions() as db:
        remove_gone_folders(db, lifecycle, report)
    assert report.folders_removed == [volume]
    with pytest.raises(NotFound):
        docker_engine.volumes.get(volume)
