"""The file manager's API on real Docker volumes, with no desktop running (or ever started)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from broker.desktops.naming import home_volume_name, public_volume_name
from broker.desktops.provider import BROKER_LABEL, DESKTOP_USER, home_labels, public_labels
from broker.models import AuditEvent
from tests.files.conftest import home_of, listing, public_of, sha256, upload
from tests.fixtures.desktops import lifecycle_of, sign_in


def test_upload_list_download_round_trip_before_any_desktop(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna = sign_in(app, "anna")
    files = {"Übung 1 – Brüche.txt": "Grüße ✓\n".encode(), "random.bin": os.urandom(3 * 2**20 + 7), "empty": b""}
    answer = upload(anna, "home", files=files)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json() == {"uploaded": [{"name": name, "size": len(data)} for name, data in files.items()]}

    entries = listing(anna, "home")
    assert set(entries) == set(files)  # nothing else: no staging files left
    assert entries["random.bin"]["type"] == "file" and entries["random.bin"]["size"] == 3 * 2**20 + 7
    assert entries["random.bin"]["modified"].endswith("Z")

    for name, data in files.items():
        download = anna.call("get", "/api/files/home/download", query_string={"path": name})
        assert download.status_code == 200
        assert sha256(download.data) == sha256(data)
        assert download.headers["Content-Type"] == "application/octet-stream"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert int(download.headers["Content-Length"]) == len(data)
    disposition = anna.call("get", "/api/files/home/download", query_string={"path": "Übung 1 – Brüche.txt"}).headers[
        "Content-Disposition"
    ]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%C3%9Cbung%201%20%E2%80%93%20Br%C3%BCche.txt" in disposition

    # On the volume the desktop will mount, owned by the desktop user (the volume's root too).
    home = home_of(docker_engine, instance, "anna")
    assert (home / "random.bin").read_bytes() == files["random.bin"]
    for path in (home, *home.iterdir()):
        assert (path.stat().st_uid, path.stat().st_gid) == DESKTOP_USER

    info = anna.call("get", "/api/files/home").get_json()
    assert info == {
        "space": "home",
        "title": "",
        "writable": True,
        "quota": 5 * 2**30,
        "used": sum(map(len, files.values())),
        "used_complete": True,
        "max_file_size": 2 * 2**30,
    }


def test_folders_rename_move_delete_and_the_audit_log(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna = sign_in(app, "anna")
    assert anna.call("post", "/api/files/home/folder", json={"path": "Mathe"}).status_code == 201
    assert anna.call("post", "/api/files/home/folder", json={"path": "Mathe/Brüche"}).status_code == 201
    assert anna.call("post", "/api/files/home/folder", json={"path": "Mathe"}).get_json()["error"] == "exists"
    assert upload(anna, "home", "Mathe", {"a.txt": b"a", "b.txt": b"b"}).status_code == 201
    assert listing(anna, "home", "Mathe")["Brüche"]["type"] == "folder"
    assert list(listing(anna, "home", "Mathe")) == ["Brüche", "a.txt", "b.txt"]  # folders first

    exists = upload(anna, "home", "Mathe", {"a.txt": b"new"})
    assert exists.status_code == 409 and exists.get_json()["error"] == "exists"
    assert upload(anna, "home", "Mathe", {"a.txt": b"new"}, replace="true").status_code == 201
    assert anna.call("get", "/api/files/home/download", query_string={"path": "Mathe/a.txt"}).data == b"new"

    renamed = anna.call("post", "/api/files/home/rename", json={"path": "Mathe/a.txt", "name": "Aufgabe 1.txt"})
    assert renamed.get_json() == {"path": "Mathe/Aufgabe 1.txt"}
    taken = anna.call("post", "/api/files/home/rename", json={"path": "Mathe/b.txt", "name": "Aufgabe 1.txt"})
    assert taken.status_code == 409  # never overwritten
    moved = anna.call("post", "/api/files/home/move", json={"path": "Mathe/b.txt", "to": "Mathe/Brüche"})
    assert moved.get_json() == {"path": "Mathe/Brüche/b.txt"}
    into_itself = anna.call("post", "/api/files/home/move", json={"path": "Mathe", "to": "Mathe/Brüche"})
    assert into_itself.status_code == 400 and into_itself.get_json()["error"] == "into_itself"
    missing = anna.call("post", "/api/files/home/move", json={"path": "nothing", "to": ""})
    assert missing.status_code == 404

    assert anna.call("post", "/api/files/home/delete", json={"path": "Mathe"}).get_json() == {"path": "Mathe"}
    assert listing(anna, "home") == {}
    assert list(home_of(docker_engine, instance, "anna").iterdir()) == []
    assert anna.call("post", "/api/files/home/delete", json={"path": ""}).status_code == 400  # not the root
    assert anna.call("post", "/api/files/home/rename", json={"path": "x"}).status_code == 400  # no name

    with lifecycle_of(app).sessions() as db:
        events = [
            (e.action, e.target, e.actor)
            for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("files_")
        ]
    assert events[:3] == [
        ("files_folder", "home:/Mathe", "anna"),
        ("files_folder", "home:/Mathe/Brüche", "anna"),
        ("files_upload", "home:/Mathe", "anna"),
    ]
    assert ("files_rename", "home:/Mathe/a.txt", "anna") in events
    assert ("files_move", "home:/Mathe/b.txt", "anna") in events
    assert events[-1] == ("files_delete", "home:/Mathe", "anna")


def test_size_limit_and_quota_refuse_and_leave_nothing_behind(desktop_app, docker_engine, instance):
    app = desktop_app(files_max_file_size="4M", files_home_quota="10M")
    anna = sign_in(app, "anna")
    assert upload(anna, "home", files={"kept.bin": os.urandom(3 * 2**20)}).status_code == 201
    home = home_of(docker_engine, instance, "anna")

    too_big = upload(anna, "home", files={"small.txt": b"x", "big.bin": os.urandom(4 * 2**20 + 1)})
    assert too_big.status_code == 413 and too_big.get_json()["error"] == "file_too_large"
    assert "big.bin" in too_big.get_json()["message"] and "4 MiB" in too_big.get_json()["message"]

    # 3 + 3 x 3 MiB is more than 10 MiB: the third file is refused, and the first two with it.
    full = upload(anna, "home", files={f"{n}.bin": os.urandom(3 * 2**20) for n in range(3)})
    assert full.status_code == 507 and full.get_json()["error"] == "quota_exceeded"
    assert "10 MiB" in full.get_json()["message"]
    assert sorted(os.listdir(home)) == ["kept.bin"]  # no partial file, no staging file

    # Larger than the quota as announced: refused before a byte is read.
    huge = anna.call(
        "post", "/api/files/home/upload", data=b"x" * (12 * 2**20), content_type="multipart/form-data; boundary=x"
    )
    assert huge.status_code == 413 and huge.get_json()["error"] == "upload_too_large"
    info = anna.call("get", "/api/files/home").get_json()
    assert (info["used"], info["quota"], info["max_file_size"]) == (3 * 2**20, 10 * 2**20, 4 * 2**20)


def test_malformed_uploads_are_refused_cleanly(desktop_app, docker_engine, instance):
    anna = sign_in(desktop_app(), "anna")
    assert upload(anna, "home", files={}).get_json()["error"] == "no_files"
    cases = [
        ("application/json", b"{}"),
        ("multipart/form-data", b"no boundary"),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data; name=files; filename=a\r\n\r\ncut",
        ),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=note\r\n\r\nhi\r\n--b--\r\n"),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data; name=files; filename=\xff\r\n\r\nx\r\n--b--\r\n",
        ),
        ("multipart/form-data; boundary=b", b"--b\r\nX: " + b"h" * 400_000),
    ]
    for content_type, body in cases:
        answer = anna.call("post", "/api/files/home/upload", data=body, content_type=content_type)
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_upload", (content_type, body[:60])
    assert listing(anna, "home") == {}


def test_public_space_is_read_by_all_and_written_by_teachers_and_admins(desktop_app, docker_engine, instance):
    app = desktop_app()
    student, teacher, admin = sign_in(app, "sam"), sign_in(app, "tina", ("teacher",)), sign_in(app, "root", ("admin",))
    assert upload(teacher, "public", files={"Arbeitsblatt.pdf": b"%PDF-1.4 blatt"}).status_code == 201
    assert teacher.call("post", "/api/files/public/folder", json={"path": "Klasse 5a"}).status_code == 201

    assert set(listing(student, "public")) == {"Arbeitsblatt.pdf", "Klasse 5a"}
    read = student.call("get", "/api/files/public/download", query_string={"path": "Arbeitsblatt.pdf"})
    assert read.status_code == 200 and read.data == b"%PDF-1.4 blatt"
    assert student.call("get", "/api/files/public").get_json()["writable"] is False
    assert teacher.call("get", "/api/files/public").get_json()["writable"] is True

    for method, path, kwargs in [
        ("post", "/api/files/public/folder", {"json": {"path": "mine"}}),
        ("post", "/api/files/public/rename", {"json": {"path": "Arbeitsblatt.pdf", "name": "x.pdf"}}),
        ("post", "/api/files/public/move", {"json": {"path": "Arbeitsblatt.pdf", "to": "Klasse 5a"}}),
        ("post", "/api/files/public/delete", {"json": {"path": "Arbeitsblatt.pdf"}}),
    ]:
        refused = student.call(method, path, **kwargs)
        assert refused.status_code == 403 and refused.get_json()["error"] == "read_only", path
    assert upload(student, "public", files={"mine.txt": b"x"}).status_code == 403

    assert (
        admin.call("post", "/api/files/public/move", json={"path": "Arbeitsblatt.pdf", "to": "Klasse 5a"}).status_code
        == 200
    )
    assert admin.call("post", "/api/files/public/delete", json={"path": "Klasse 5a"}).status_code == 200
    assert listing(student, "public") == {}
    assert list(public_of(docker_engine, instance).iterdir()) == []
    assert app.test_client().get("/api/files/public/list").status_code == 401  # not signed in


def test_nobody_reaches_another_persons_home(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna, ben, admin = sign_in(app, "anna"), sign_in(app, "ben"), sign_in(app, "root", ("admin",))
    assert upload(anna, "home", "", {"geheim.txt": b"anna's secret"}).status_code == 201
    assert anna.call("post", "/api/files/home/folder", json={"path": "Tagebuch"}).status_code == 201
    anna_home = home_of(docker_engine, instance, "anna")
    before = sorted(os.listdir(anna_home))

    for person in (ben, admin):  # admins too: a home is its owner's alone
        assert listing(person, "home") == {}
        assert person.call("get", "/api/files/home/download", query_string={"path": "geheim.txt"}).status_code == 404
        for path, body in [
            ("rename", {"path": "geheim.txt", "name": "x"}),
            ("move", {"path": "geheim.txt", "to": ""}),
            ("delete", {"path": "geheim.txt"}),
            ("delete", {"path": "Tagebuch"}),
            ("move", {"path": "Tagebuch", "to": ""}),
        ]:
            assert person.call("post", f"/api/files/home/{path}", json=body).status_code == 404
        # There is no way to name another space: only home and public exist.
        for space in ("anna", "home-anna", "..", anna_home.parent.name, str(anna_home)):
            assert person.call("get", f"/api/files/{space}/list").status_code == 404
        assert (
            person.call(
                "get", "/api/files/home/list", query_string={"path": f"../../{anna_home.parent.name}/_data"}
            ).status_code
            == 400
        )
    assert sorted(os.listdir(anna_home)) == before


def test_cookie_sessions_need_the_csrf_token_and_other_routes_keep_the_small_request_limit(desktop_app):
    app = desktop_app()
    anna = sign_in(app, "anna")  # its client also holds the session cookie
    forged = anna.client.post("/api/files/home/folder", json={"path": "x"})
    assert forged.status_code == 403 and forged.get_json()["error"] == "csrf_failed"
    big = app.test_client().post("/api/auth/local/login", data=b"x" * (17 * 2**20), content_type="application/json")
    assert big.status_code == 413


def test_volumes_the_engine_made_for_root_are_handed_to_the_desktop_user(desktop_app, docker_engine, instance):
    # As `docker volume create` or a desktop's read-only mount at /srv/public leave them: root's, empty.
    public = docker_engine.volumes.create(public_volume_name(instance), labels=public_labels(instance))
    assert Path(public.attrs["Mountpoint"]).stat().st_uid == 0
    app = desktop_app()
    tina = sign_in(app, "tina", ("teacher",))
    assert upload(tina, "public", files={"Blatt.txt": b"Aufgabe"}).status_code == 201
    folder = public_of(docker_engine, instance)
    for path in (folder, folder / "Blatt.txt"):
        assert (path.stat().st_uid, path.stat().st_gid) == DESKTOP_USER
    assert not docker_engine.containers.list(all=True, filters={"label": f"{BROKER_LABEL}={instance}"})

    # Root's files in a home are not the file manager's to take over: it says how to hand them over.
    home = docker_engine.volumes.create(
        home_volume_name(instance, "local:anna"), labels=home_labels(instance, "anna", "local:anna")
    )
    (Path(home.attrs["Mountpoint"]) / "root.txt").write_text("root's")
    answer = sign_in(app, "anna").call("get", "/api/files/home/list")
    assert answer.status_code == 503 and answer.get_json()["error"] == "files_unavailable"
    assert f"chown 1000:1000 {home.attrs['Mountpoint']}" in answer.get_json()["message"]


def test_installs_without_homes_still_have_the_public_space(desktop_app):
    app = desktop_app(desktop_persistent_homes="false")
    anna = sign_in(app, "anna")
    answer = anna.call("get", "/api/files/home/list")
    assert answer.status_code == 404 and answer.get_json()["error"] == "no_home"
    assert anna.call("get", "/api/files/public/list").status_code == 200


def test_an_unreachable_engine_is_said_plainly(desktop_app, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    anna = sign_in(desktop_app(catalog=False), "anna")
    answer = anna.call("get", "/api/files/home/list")
    assert answer.status_code == 503 and answer.get_json()["error"] == "engine_unavailable"
    assert "not reachable" in answer.get_json()["message"]
