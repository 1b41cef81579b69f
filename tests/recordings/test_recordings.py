"""Session recordings without Docker: the admins' switch per desktop type and what people are told,
the guacd parameters only the owner's control tunnel gets, the admins' API (only admins; every
playback, download and deletion audited; files found by id, never by a name from the request) and
retention in housekeeping; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import gevent
import gevent.socket
import guacamole.client
import pytest
from sqlalchemy import select

from broker.auth.users import create_local_user
from broker.db import utcnow
from broker.housekeeping import Report, expire_recordings
from broker.models import AuditEvent, Connection, Desktop, DesktopType, Recording
from broker.tunnels import service as tunnels
from broker.tunnels.guacd import RECORDING_PATH
from tests.admin.test_admin import PASSWORD, bearer
from tests.fixtures.broker import make_settings
from tests.fixtures.fake_guacd import VNC_ARGS, FakeGuacd
from tests.tunnels.test_tunnel_session import MemorySocket, World

RECORDING_ARGS = ("recording-path", "recording-name", "create-recording-path", "recording-include-keys")
CONTENT = b"4.sync,1.1;" * 100  # what a recording holds: Guacamole instructions


@pytest.fixture
def recording_dir(tmp_path):
    directory = tmp_path / "recordings"
    directory.mkdir()
    return directory


@pytest.fixture
def app(app_factory, recording_dir):
    return app_factory(recording_dir=str(recording_dir))


@pytest.fixture
def people(app, db, recording_dir):
    """boss (admin), tom (teacher), anna (student) with a desktop of `base`, and two of anna's recordings."""
    create_local_user(db, "boss", PASSWORD, ["admin"], "The Boss")
    create_local_user(db, "tom", PASSWORD, ["teacher"], "Tom Teacher")
    anna, _ = create_local_user(db, "anna", PASSWORD, [], "Anna Schmidt")
    db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"))
    db.flush()
    db.add(Desktop(id="d-anna", user_id=anna.id, desktop_type_id="base", state="running", address="10.0.0.9"))
    now = utcnow()
    for key, age in (("new", timedelta(hours=1)), ("old", timedelta(days=40))):
        db.add(Connection(id=f"c-{key}", user_id=anna.id, desktop_id="d-anna", mode="control", protocol="guacamole"))
        db.flush()
        db.add(
            Recording(
                id=f"r-{key}",
                connection_id=f"c-{key}",
                user_id=anna.id,
                username="anna",
                desktop_type_id="base",
                desktop_id="d-anna",
                started_at=now - age,
                ended_at=now - age + timedelta(minutes=10),
                size_bytes=len(CONTENT),
                file_name=uuid.uuid4().hex,
            )
        )
    db.commit()
    for recording in db.scalars(select(Recording)):
        (recording_dir / recording.file_name).write_bytes(CONTENT)
    return {"boss": bearer(app, "boss"), "tom": bearer(app, "tom"), "anna": bearer(app, "anna")}


def audited(db, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- the switch, and what people are told


def test_admins_turn_recording_on_per_type_and_people_are_told_before_the_start(client, db, people):
    kinds = client.get("/api/container/list", headers=people["anna"]).get_json()
    assert [k["recorded"] for k in kinds["desktop_types"]] == [False]  # off by default
    assert (
        client.patch(
            "/api/admin/desktop-types/base", json={"record_sessions": "yes"}, headers=people["boss"]
        ).status_code
        == 400
    )
    assert (
        client.patch(
            "/api/admin/desktop-types/base", json={"record_sessions": True}, headers=people["anna"]
        ).status_code
        == 403
    )
    changed = client.patch("/api/admin/desktop-types/base", json={"record_sessions": True}, headers=people["boss"])
    assert changed.status_code == 200 and changed.get_json()["record_sessions"] is True
    kinds = client.get("/api/container/list", headers=people["anna"]).get_json()
    assert [k["recorded"] for k in kinds["desktop_types"]] == [True]
    assert [d["recorded"] for d in kinds["desktops"]] == [True]  # the viewer's mark while connected
    [event] = audited(db, "admin_desktop_type_update")
    assert "record_sessions" in str(event.details)


def test_a_recorded_desktop_opens_in_the_guacamole_viewer_only(db, people):
    db.get(DesktopType, "base").record_sessions = True
    db.commit()
    anna = db.get(Desktop, "d-anna").user
    with pytest.raises(tunnels.WatchOnly) as refused:
        tunnels.authorize(db, anna, "d-anna", "control", "novnc")  # noVNC goes around guacd, which records
    assert refused.value.code == "recorded"
    assert tunnels.authorize(db, anna, "d-anna", "control", "guacamole").id == "d-anna"


# --- what guacd gets: only the owner's control tunnel is recorded


@pytest.fixture
def recording_guacd(monkeypatch):
    """A guacd stand-in that offers the recording arguments (as guacd 1.3 to 1.6 do)."""
    monkeypatch.setattr(guacamole.client, "socket", gevent.socket)
    guacd = FakeGuacd("1.5")
    guacd.args = (*VNC_ARGS["1.5"], *RECORDING_ARGS)
    return guacd


def connect_values(guacd: FakeGuacd, index: int) -> dict[str, str]:
    [connect] = [args for opcode, *args in guacd.handshakes[index] if opcode == "connect"]
    return {name: value for name, value in zip(guacd.args, connect, strict=True) if name in RECORDING_ARGS and value}


def run_briefly(world: World, token: str) -> str:
    """Open a tunnel with `token`, relay for a moment, end it; its connection's id."""
    ws = MemorySocket()
    with world.session() as session:
        session.open(world.request(token))
        task = gevent.spawn(session.run, ws)
        gevent.sleep(0.2)
        if session.recording:  # what guacd would have written meanwhile
            (world.recording_dir / session.recording).write_bytes(CONTENT)
        ws.inbox.put(StopIteration)
        task.get(timeout=5)
        return session.record_id


def test_only_the_owners_tunnel_of_a_recorded_type_is_recorded(tmp_path, recording_guacd, recording_dir):
    world = World(tmp_path, recording_guacd.port)
    world.settings = make_settings(
        guacd_host="127.0.0.1", guacd_port=str(recording_guacd.port), recording_dir=str(recording_dir)
    )
    world.recording_dir = recording_dir
    try:
        run_briefly(world, world.token())  # the type records nothing yet
        assert connect_values(recording_guacd, 0) == {}
        with world.sessions() as db:
            db.get(DesktopType, "standin").record_sessions = True
            db.commit()
        owners = run_briefly(world, world.token())
        run_briefly(world, world.token(world.boss_id, mode="view"))  # an admin watching
        with world.sessions() as db:
            [recording] = db.scalars(select(Recording)).all()
            assert recording.connection_id == owners and recording.username == "anna"
            assert recording.desktop_type_id == "standin" and recording.desktop_id == world.desktop_id
            assert recording.ended_at is not None and recording.size_bytes == len(CONTENT)
        assert connect_values(recording_guacd, 1) == {
            "recording-path": RECORDING_PATH,
            "recording-name": recording.file_name,
            "create-recording-path": "true",  # keys (recording-include-keys) never: they hold passwords
        }
        assert connect_values(recording_guacd, 2) == {}
        assert sorted(p.name for p in recording_dir.iterdir()) == [recording.file_name]
    finally:
        world.engine.dispose()


# --- the admins' API


def test_only_admins_list_play_download_and_delete_recordings(client, db, people):
    paths = ["/api/admin/recordings", "/api/admin/recordings/r-new/play", "/api/admin/recordings/r-new/download"]
    for path in paths:
        assert client.get(path).status_code == 401
        for who in ("tom", "anna"):
            answer = client.get(path, headers=people[who])
            assert answer.status_code == 403 and CONTENT not in answer.data
    for who in ("tom", "anna"):
        assert client.delete("/api/admin/recordings/r-new", headers=people[who]).status_code == 403
    assert db.get(Recording, "r-new") is not None
    assert not audited(db, "recording_play") and not audited(db, "recording_download")


def test_admins_find_recordings_by_person_type_and_date_with_the_storage_used(client, people):
    def found(**query):
        answer = client.get("/api/admin/recordings", query_string=query, headers=people["boss"])
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    everything = found()
    assert [r["id"] for r in everything["recordings"]] == ["r-new", "r-old"]  # newest first
    assert everything["storage"] == {"files": 2, "bytes": 2 * len(CONTENT)}
    assert everything["recordings"][0]["user"] == "anna" and everything["recordings"][0]["size_bytes"] == len(CONTENT)
    assert [r["id"] for r in found(user="ANN")["recordings"]] == ["r-new", "r-old"]
    assert found(user="tom")["recordings"] == []
    assert found(desktop_type="other")["recordings"] == []
    today = utcnow().date()
    assert [r["id"] for r in found(**{"from": str(today - timedelta(days=1))})["recordings"]] == ["r-new"]
    assert [r["id"] for r in found(to=str(today - timedelta(days=30)))["recordings"]] == ["r-old"]
    bad = client.get("/api/admin/recordings?from=yesterday", headers=people["boss"])
    assert bad.status_code == 400
    stats = client.get("/api/admin/stats", headers=people["boss"]).get_json()
    assert stats["recordings"] == {"files": 2, "bytes": 2 * len(CONTENT)}


def test_playback_download_and_deletion_are_audited(client, db, people, recording_dir):
    played = client.get("/api/admin/recordings/r-new/play", headers=people["boss"])
    assert played.status_code == 200 and played.data == CONTENT
    assert "attachment" not in played.headers.get("Content-Disposition", "")
    downloaded = client.get("/api/admin/recordings/r-new/download", headers=people["boss"])
    assert downloaded.status_code == 200 and downloaded.data == CONTENT
    assert (
        downloaded.headers["Content-Disposition"].startswith("attachment")
        and ".guac" in downloaded.headers["Content-Disposition"]
    )
    file_name = db.get(Recording, "r-new").file_name
    deleted = client.delete("/api/admin/recordings/r-new", headers=people["boss"])
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": "r-new"}
    assert not (recording_dir / file_name).exists()
    db.expire_all()
    assert db.get(Recording, "r-new") is None
    assert client.get("/api/admin/recordings/r-new/play", headers=people["boss"]).status_code == 404
    for action in ("recording_play", "recording_download", "recording_delete"):
        [event] = audited(db, action)
        assert event.actor == "boss" and event.target == "r-new"
        assert event.details["user"] == "anna" and event.details["desktop_type"] == "base"


def test_the_file_is_never_named_by_the_request(client, db, people, recording_dir):
    (recording_dir.parent / "secret.txt").write_text("not a recording")
    for path in ("/api/admin/recordings/..%2Fsecret.txt/play", "/api/admin/recordings/secret.txt/download"):
        answer = client.get(path, headers=people["boss"])
        assert answer.status_code == 404 and b"not a recording" not in answer.data
    # A row whose file name is not one the broker makes (a tampered database) opens nothing.
    db.get(Recording, "r-old").file_name = "../secret.txt"
    db.commit()
    answer = client.get("/api/admin/recordings/r-old/play", headers=people["boss"])
    assert answer.status_code == 404 and b"not a recording" not in answer.data


# --- retention


def test_retention_deletes_old_recordings_in_housekeeping_and_audits_it(app, db, people, recording_dir):
    tier = make_settings(recording_dir=str(recording_dir), recording_retention_days="30").tier
    old_file = db.get(Recording, "r-old").file_name
    report = Report()
    expire_recordings(db, tier, report)
    assert report.recordings_expired == ["r-old"]
    db.expire_all()
    assert [r.id for r in db.scalars(select(Recording))] == ["r-new"]
    assert not (recording_dir / old_file).exists() and len(list(recording_dir.iterdir())) == 1
    [event] = audited(db, "recording_expire")
    assert event.target == "r-old" and event.details["retention_days"] == 30 and event.actor == ""
    keep = make_settings(recording_dir=str(recording_dir), recording_retention_days="0").tier
    expire_recordings(db, keep, Report())  # 0: kept however old
    assert db.get(Recording, "r-new") is not None


def test_the_quickstarts_guacd_may_write_the_directory_and_the_broker_read_what_it_writes(tmp_path):
    from broker.tier import recordings_mount

    mount = recordings_mount(str(tmp_path / "new" / "recordings"))
    made = tmp_path / "new" / "recordings"
    assert made.is_dir() and made.stat().st_mode & 0o7777 == 0o2770
    assert mount["volumes"] == {str(made): {"bind": RECORDING_PATH, "mode": "rw"}}
    assert mount["group_add"] == [str(made.stat().st_gid)]  # as root: guacd keeps its user, root reads
    os.chown(made, 1000, 1000)
    assert recordings_mount(str(made))["user"] == "1000:1000"  # else guacd runs as the broker's user
