"""The admin dashboard's JSON API: connections and their kill, the audit log, users; on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.auth.current import COOKIE_NAME
from broker.auth.users import create_local_user
from broker.db import utcnow
from broker.models import AuditEvent, Connection, Desktop, DesktopType, Group, User

PASSWORD = "correct horse battery"
ADMIN_GETS = ["/api/admin/connections", "/api/admin/audit", "/api/admin/users"]


def bearer(app, username: str) -> dict:
    answer = app.test_client().post("/api/auth/local/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['session_token']}"}


@pytest.fixture
def people(app, db):
    """boss (admin), tom (teacher) and anna (student of 5a) with a running desktop and three connections."""
    create_local_user(db, "boss", PASSWORD, ["admin"], "The Boss")
    create_local_user(db, "tom", PASSWORD, ["teacher"], "Tom Teacher")
    anna, _ = create_local_user(db, "anna", PASSWORD, [], "Anna Schmidt")
    anna.groups.append(Group(key="5a", name="Klasse 5a"))
    db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"))
    db.flush()
    db.add(Desktop(id="d-anna", user_id=anna.id, desktop_type_id="base", state="running"))
    now = utcnow()
    db.add_all(
        [
            Connection(
                id="c-old",
                user_id=anna.id,
                desktop_id="d-anna",
                mode="control",
                protocol="guacamole",
                started_at=now - timedelta(hours=2),
                ended_at=now - timedelta(hours=1),
                bytes_to_client=1000,
                bytes_from_client=10,
                end_reason="browser silent",
            ),
            Connection(
                id="c-live",
                user_id=anna.id,
                desktop_id="d-anna",
                mode="control",
                protocol="guacamole",
                started_at=now - timedelta(minutes=5),
            ),
            Connection(
                id="c-watch",
                user_id=None,
                desktop_id="d-anna",
                mode="view",
                protocol="guacamole",
                started_at=now - timedelta(minutes=1),
            ),
        ]
    )
    db.commit()
    return {name: bearer(app, name) for name in ("boss", "tom", "anna")}


def test_only_admins_may_use_the_admin_api(app, people):
    client = app.test_client()
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 401, path
        for person in ("tom", "anna"):
            refused = client.get(path, headers=people[person])
            assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden", (path, person)
        assert client.get(path, headers=people["boss"]).status_code == 200, path
    assert client.post("/api/admin/connections/c-live/kill").status_code == 401
    assert client.post("/api/admin/connections/c-live/kill", headers=people["tom"]).status_code == 403


def test_connections_newest_first_live_or_ended_and_paged(app, people):
    client = app.test_client()
    every = client.get("/api/admin/connections", headers=people["boss"]).get_json()
    assert [c["id"] for c in every["connections"]] == ["c-watch", "c-live", "c-old"] and every["total"] == 3
    old = every["connections"][2]
    assert old["user"] == "anna" and old["desktop_id"] == "d-anna" and old["desktop_type"] == "base"
    assert old["mode"] == "control" and not old["live"] and old["end_reason"] == "browser silent"
    assert (old["bytes_to_client"], old["bytes_from_client"]) == (1000, 10)
    assert old["started_at"].endswith("Z") and old["ended_at"].endswith("Z")
    assert every["connections"][0]["user"] is None  # a deleted person's rows stay

    live = client.get("/api/admin/connections?live=true", headers=people["boss"]).get_json()
    assert [c["id"] for c in live["connections"]] == ["c-watch", "c-live"]
    assert all(c["live"] and c["ended_at"] is None for c in live["connections"])
    ended = client.get("/api/admin/connections?live=false", headers=people["boss"]).get_json()
    assert [c["id"] for c in ended["connections"]] == ["c-old"]

    page = client.get("/api/admin/connections?limit=1&offset=1", headers=people["boss"]).get_json()
    assert [c["id"] for c in page["connections"]] == ["c-live"] and page["total"] == 3
    assert (page["limit"], page["offset"]) == (1, 1)
    for bad in ("live=maybe", "limit=0", "limit=x", "offset=-1"):
        answer = client.get(f"/api/admin/connections?{bad}", headers=people["boss"])
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_request", bad
    assert client.get("/api/admin/connections?limit=100000", headers=people["boss"]).get_json()["limit"] == 500


def test_a_kill_marks_the_live_connection_and_is_audited(app, people, db):
    client = app.test_client()
    answer = client.post("/api/admin/connections/c-live/kill", headers=people["boss"])
    assert answer.status_code == 202 and answer.get_json()["kill_requested_at"] is not None
    db.expire_all()
    assert db.get(Connection, "c-live").kill_requested_at is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "admin_connection_kill"))
    assert event.actor == "boss" and event.target == "c-live" and event.details["user"] == "anna"
    # Again: harmless and keeps the first time; ended and unknown ones are refused.
    again = client.post("/api/admin/connections/c-live/kill", headers=people["boss"])
    assert again.status_code == 202 and again.get_json()["kill_requested_at"] == answer.get_json()["kill_requested_at"]
    ended = client.post("/api/admin/connections/c-old/kill", headers=people["boss"])
    assert ended.status_code == 409 and ended.get_json()["error"] == "connection_ended"
    assert client.post("/api/admin/connections/nope/kill", headers=people["boss"]).status_code == 404


def test_a_cookie_signed_in_kill_needs_the_csrf_token(app, people):
    client = app.test_client()
    answer = client.post("/api/auth/local/login", json={"username": "boss", "password": PASSWORD}).get_json()
    client.set_cookie(COOKIE_NAME, answer["session_token"])
    assert client.post("/api/admin/connections/c-live/kill").status_code == 403
    assert (
        client.post("/api/admin/connections/c-live/kill", headers={"X-CSRF-Token": answer["csrf_token"]}).status_code
        == 202
    )


def test_the_audit_log_newest_first_filtered_by_action(app, people):
    client = app.test_client()
    client.post("/api/admin/connections/c-live/kill", headers=people["boss"])
    events = client.get("/api/admin/audit", headers=people["boss"]).get_json()
    assert events["events"][0]["action"] == "admin_connection_kill" and events["events"][0]["actor"] == "boss"
    ats = [e["at"] for e in events["events"]]
    assert ats == sorted(ats, reverse=True) and events["total"] == len(ats) >= 4  # three sign-ins and the kill
    logins = client.get("/api/admin/audit?action=login", headers=people["boss"]).get_json()
    assert logins["total"] == 3 and {e["actor"] for e in logins["events"]} == {"boss", "tom", "anna"}
    assert client.get("/api/admin/audit?action=nothing", headers=people["boss"]).get_json()["events"] == []
    paged = client.get("/api/admin/audit?limit=2&offset=1", headers=people["boss"]).get_json()
    assert [e["id"] for e in paged["events"]] == [e["id"] for e in events["events"][1:3]]


def test_users_with_roles_groups_desktops_and_a_search(app, people, db):
    client = app.test_client()
    every = client.get("/api/admin/users", headers=people["boss"]).get_json()
    assert [u["username"] for u in every["users"]] == ["anna", "boss", "tom"] and every["total"] == 3
    anna = every["users"][0]
    assert anna["auth_source"] == "local" and anna["roles"] == [] and not anna["disabled"]
    assert anna["groups"] == [{"key": "5a", "name": "Klasse 5a"}] and anna["last_login_at"].endswith("Z")
    assert anna["desktops"] == [{"id": "d-anna", "desktop_type": "base", "state": "running", "last_activity_at": None}]
    assert every["users"][1]["roles"] == ["admin"] and every["users"][1]["desktops"] == []
    found = client.get("/api/admin/users?query=TEACH", headers=people["boss"]).get_json()
    assert [u["username"] for u in found["users"]] == ["tom"]
    assert client.get("/api/admin/users?query=%25", headers=people["boss"]).get_json()["users"] == []
    db.scalar(select(User).where(User.username == "tom")).disabled = True
    db.commit()
    assert client.get("/api/admin/users?query=tom", headers=people["boss"]).get_json()["users"][0]["disabled"]
