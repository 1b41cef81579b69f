"""Lessons, collecting hand-ins and opening for everyone, on the real engine with real desktops.

A lesson starts its students' desktops before they come (progress per student, a failure saying
why), an address or a file opens on each running desktop as the desktop's user, ending warns the
students (their desktops' `stops_at`) and stops the desktops when the warning is over, also in a
broker made after a restart. Collecting copies each student's hand-in into a new dated folder of the
teacher's home with a summary. The pages in Chromium: tests/teacher/test_lessons_ui.py.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from broker.db import make_engine, upgrade
from broker.desktops import scheduled_stops
from broker.models import AuditEvent, Group, User
from tests.files.conftest import home_of, listing, upload
from tests.files.test_with_desktop import run
from tests.fixtures.desktops import lifecycle_of, sign_in

# A stand-in for xdg-open that writes down who ran it with what, put into each desktop by the test.
STUB = '#!/bin/sh\necho "$(id -un) $*" >> /tmp/opened\n'


@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def make_group(app, key: str, usernames: list[str]) -> int:
    with lifecycle_of(app).sessions() as db:
        group = Group(key=key, name=key, members=list(db.scalars(select(User).where(User.username.in_(usernames)))))
        db.add(group)
        db.commit()
        return group.id


def lesson_when(teacher, group_id: int, done, within: float = 90) -> dict:
    deadline = time.monotonic() + within
    while True:
        lesson = teacher.call("get", f"/api/teacher/groups/{group_id}/lesson").get_json()["lesson"]
        if done(lesson) or time.monotonic() > deadline:
            return lesson
        time.sleep(0.3)


def own_desktop(person) -> dict:
    [desktop] = person.call("get", "/api/container/list").get_json()["desktops"]
    return desktop


def opened_in(docker_engine, desktop: dict) -> str:
    return run(docker_engine.containers.get(desktop["container_id"]), "cat /tmp/opened 2>/dev/null")[1]


def test_a_lesson_starts_warm_desktops_opens_for_everyone_and_ends_after_the_warning(
    desktop_app, docker_engine, database_url
):
    # Three desktops may run: the fourth student's start fails, and the lesson says so for her.
    app = desktop_app(desktops_total="3", lesson_end_warning="3s")
    tess, tom = sign_in(app, "tess", ("teacher",)), sign_in(app, "tom", ("teacher",))
    kids = {name: sign_in(app, name) for name in ("anna", "ben", "cem", "dora")}
    group_id = make_group(app, "5a", ["tess", *kids])
    other_group = make_group(app, "6b", ["tom"])
    made = tess.call(
        "post", "/api/teacher/assignments", json={"desktop_type": "base", "group_id": group_id, "folder": "Mathe"}
    )
    assert made.status_code == 201, made.get_json()

    # Nobody but the group's teacher (or an admin) starts its lesson.
    assert kids["anna"].call("post", f"/api/teacher/groups/{group_id}/lesson/start", json={}).status_code == 403
    refused = tom.call("post", f"/api/teacher/groups/{group_id}/lesson/start", json={"desktop_type": "base"})
    assert refused.status_code == 403 and other_group
    started = tess.call("post", f"/api/teacher/groups/{group_id}/lesson/start", json={"desktop_type": "base"})
    assert started.status_code == 202, started.get_json()
    assert (started.get_json()["total"], started.get_json()["started"]) == (4, 0)
    again = tess.call("post", f"/api/teacher/groups/{group_id}/lesson/start", json={"desktop_type": "base"})
    assert again.status_code == 409

    lesson = lesson_when(tess, group_id, lambda found: all(s["state"] != "starting" for s in found["students"]))
    states = {s["person"]["username"]: (s["state"], s["problem"]) for s in lesson["students"]}
    assert lesson["started"] == 3 and lesson["total"] == 4, states
    [(failed, problem)] = [(name, problem) for name, (state, problem) in states.items() if state == "failed"]
    assert "All 3 desktops" in problem
    warm = [name for name in kids if name != failed]
    # Running before the students come: their dashboards find them so at once.
    desktops = {name: own_desktop(kids[name]) for name in warm}
    assert {desktop["state"] for desktop in desktops.values()} == {"running"}
    assert kids[failed].call("get", "/api/container/list").get_json()["desktops"] == []
    # Each finds where to hand in, in their home, as their own.
    for name in warm:
        container = docker_engine.containers.get(desktops[name]["container_id"])
        assert run(container, "stat -c %U ~/Abgabe/Mathe && ls -d ~/Mathe") == (0, "user\n/home/user/Mathe")

    # Open for everyone: an address, on each running desktop, as its user (a stub xdg-open writes it down).
    for desktop in desktops.values():
        container = docker_engine.containers.get(desktop["container_id"])
        container.exec_run(
            ["sh", "-c", f"printf '{STUB}' > /usr/local/bin/xdg-open && chmod 755 /usr/local/bin/xdg-open"]
        )
    url = "https://example.org/lesson?a=1&b=$(id)"
    answer = tess.call("post", f"/api/teacher/groups/{group_id}/open", json={"url": url})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["opened"] == 3
    outcome = {item["person"]["username"]: item for item in answer.get_json()["desktops"]}
    assert outcome[failed]["opened"] is False and outcome[failed]["problem"] == "No running desktop."
    for desktop in desktops.values():
        assert opened_in(docker_engine, desktop) == f"user {url}"  # no shell ever saw it: $(id) stayed text
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://", "ftp://example.org/", "http://a b/"):
        refused = tess.call("post", f"/api/teacher/groups/{group_id}/open", json={"url": bad})
        assert refused.status_code == 400 and refused.get_json()["error"] == "bad_url", bad
    assert kids["anna"].call("post", f"/api/teacher/groups/{group_id}/open", json={"url": url}).status_code == 403
    assert tom.call("post", f"/api/teacher/groups/{group_id}/open", json={"url": url}).status_code == 403
    for desktop in desktops.values():
        assert opened_in(docker_engine, desktop) == f"user {url}"  # nothing more was opened

    # End: their desktops carry the stop time (their viewers count down), and stop once it has come.
    assert tom.call("post", f"/api/teacher/groups/{group_id}/lesson/end").status_code == 403
    ended = tess.call("post", f"/api/teacher/groups/{group_id}/lesson/end")
    assert ended.status_code == 200 and ended.get_json()["stopping"] == 3, ended.get_json()
    stops_at = ended.get_json()["lesson"]["ends_at"]
    assert {own_desktop(kids[name])["stops_at"] for name in warm} == {stops_at}
    lifecycle = lifecycle_of(app)
    assert scheduled_stops.stop_those_due(lifecycle) == []  # not yet: the students are being warned
    time.sleep(3.2)
    # Stopped by a broker made afresh on the same database: the time is kept there, not in a process.
    after_restart = lifecycle_of(desktop_app(desktops_total="3"))
    assert sorted(scheduled_stops.stop_those_due(after_restart)) == sorted(d["id"] for d in desktops.values())
    for name in warm:
        desktop = own_desktop(kids[name])
        assert (desktop["state"], desktop["reason"], desktop["stops_at"]) == ("stopped", "The lesson ended.", None)
    assert tess.call("get", f"/api/teacher/groups/{group_id}/lesson").get_json()["lesson"] is None

    # Started again after the lesson, a desktop stays up.
    assert kids[warm[0]].call("post", "/api/container/start?desktop_type=base").get_json()["state"] == "running"
    assert scheduled_stops.stop_those_due(lifecycle) == []
    with lifecycle.sessions() as db:
        actions = db.scalars(select(AuditEvent.action).where(AuditEvent.actor == "tess")).all()
    assert {"lesson_start", "open_for_all", "lesson_end"} <= set(actions)


def test_a_file_of_the_assignment_folder_opens_for_everyone_and_nothing_outside_it(
    desktop_app, docker_engine, database_url
):
    app = desktop_app()
    tess, anna, ben = sign_in(app, "tess", ("teacher",)), sign_in(app, "anna"), sign_in(app, "ben")
    cem = sign_in(app, "cem")  # his desktop has no program to open things with
    group_id = make_group(app, "5a", ["tess", "anna", "ben", "cem"])
    made = tess.call(
        "post", "/api/teacher/assignments", json={"desktop_type": "base", "group_id": group_id, "folder": "Mathe"}
    ).get_json()
    assert upload(tess, made["space"], files={"Blatt 1.txt": b"Aufgabe 1\n"}).status_code == 201
    desktops = []
    for person in (anna, ben):
        desktop = person.call("post", "/api/container/start?desktop_type=base").get_json()
        container = docker_engine.containers.get(desktop["container_id"])
        container.exec_run(
            ["sh", "-c", f"printf '{STUB}' > /usr/local/bin/xdg-open && chmod 755 /usr/local/bin/xdg-open"]
        )
        desktops.append(desktop)

    cems = cem.call("post", "/api/container/start?desktop_type=base").get_json()
    assert cems["state"] == "running"
    docker_engine.containers.get(cems["container_id"]).exec_run(["rm", "-f", "/usr/bin/xdg-open"])

    body = {"assignment_id": made["id"], "path": "Blatt 1.txt"}
    answer = tess.call("post", f"/api/teacher/groups/{group_id}/open", json=body)
    assert answer.status_code == 200 and answer.get_json()["opened"] == 2, answer.get_json()
    problems = {item["person"]["username"]: item["problem"] for item in answer.get_json()["desktops"]}
    assert problems == {"anna": "", "ben": "", "cem": "This desktop has no xdg-open."}
    for desktop in desktops:
        assert opened_in(docker_engine, desktop) == "user /home/user/Mathe/Blatt 1.txt"
    for path, status in (("../Blatt 1.txt", 400), ("/etc/passwd", 400), ("nope.txt", 404), ("", 400)):
        refused = tess.call("post", f"/api/teacher/groups/{group_id}/open", json={**body, "path": path})
        assert refused.status_code == status, (path, refused.get_json())
    assert anna.call("post", f"/api/teacher/groups/{group_id}/open", json=body).status_code == 403
    for desktop in desktops:
        assert opened_in(docker_engine, desktop) == "user /home/user/Mathe/Blatt 1.txt"


def test_collecting_copies_each_students_hand_in_into_a_new_dated_folder_with_a_summary(
    desktop_app, docker_engine, instance, database_url
):
    app = desktop_app()
    tess = sign_in(app, "tess", ("teacher",))
    kids = {name: sign_in(app, name) for name in ("anna", "ben", "cem")}
    group_id = make_group(app, "5a", ["tess", *kids])
    made = tess.call(
        "post", "/api/teacher/assignments", json={"desktop_type": "base", "group_id": group_id, "folder": "Mathe"}
    ).get_json()
    # anna hands in two files (one in a folder) and a link to elsewhere; ben something else; cem nothing.
    for name in kids:
        assert listing(kids[name], "home") == {}  # makes the home volume
    anna_in = home_of(docker_engine, instance, "anna") / "Abgabe" / "Mathe"
    (anna_in / "Teil 2").mkdir(parents=True)
    (anna_in / "Lösung.txt").write_text("42\n")
    (anna_in / "Teil 2" / "b.txt").write_bytes(b"x" * 3000)
    (anna_in / "secret").symlink_to("/etc/shadow")
    ben_in = home_of(docker_engine, instance, "ben") / "Abgabe" / "Mathe"
    ben_in.mkdir(parents=True)
    (ben_in / "ben.txt").write_text("hallo\n")
    (home_of(docker_engine, instance, "cem") / "Abgabe").mkdir()

    assert kids["anna"].call("post", f"/api/teacher/assignments/{made['id']}/collect").status_code == 403
    answer = tess.call("post", f"/api/teacher/assignments/{made['id']}/collect")
    assert answer.status_code == 200, answer.get_json()
    first = answer.get_json()
    handed = {entry["person"]["username"]: entry["files"] for entry in first["students"]}
    assert {item["path"]: item["size"] for item in handed["anna"]} == {"Lösung.txt": 3, "Teil 2/b.txt": 3000}
    assert [(item["path"], item["size"]) for item in handed["ben"]] == [("ben.txt", 6)]
    assert handed["cem"] == []
    assert first["path"].startswith("Eingesammelt/Mathe ")

    tess_home = home_of(docker_engine, instance, "tess")
    collected = tess_home / first["path"]
    assert sorted(path.name for path in collected.iterdir()) == ["anna", "ben", "cem", "Übersicht.txt"]
    assert (collected / "anna" / "Lösung.txt").read_text() == "42\n"
    assert (collected / "anna" / "Teil 2" / "b.txt").read_bytes() == b"x" * 3000
    assert not (collected / "anna" / "secret").exists()
    assert (collected / "ben" / "ben.txt").read_text() == "hallo\n"
    assert list((collected / "cem").iterdir()) == []
    summary = (collected / "Übersicht.txt").read_text()
    assert "anna: 2 Datei(en)" in summary and "Teil 2/b.txt\t3000 B" in summary
    assert "cem: nichts abgegeben" in summary
    # The teacher sees it in the file manager.
    assert "Übersicht.txt" in listing(tess, "home", first["path"])

    # A second collect leaves the first as it was and makes a new folder.
    (ben_in / "ben.txt").write_text("geändert\n")
    second = tess.call("post", f"/api/teacher/assignments/{made['id']}/collect").get_json()
    assert second["path"] != first["path"]
    assert (collected / "ben" / "ben.txt").read_text() == "hallo\n"
    assert (tess_home / second["path"] / "ben" / "ben.txt").read_text() == "geändert\n"
    with lifecycle_of(app).sessions() as db:
        audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "lesson_collect")).all()
    assert [event.details["handed_in"] for event in audit] == [2, 2]
