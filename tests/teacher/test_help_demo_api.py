"""Help with control and demos through the API: who may help or show what to whom, what the student is
told (their desktop's `controlled_by` and `shown_to_class`, the `demo` event), that both are audited, and
that ending them flags the tunnels concerned. On SQLite and PostgreSQL.

Real tunnels, desktops and browsers: tests/teacher/test_help_demo_classroom.py."""

from __future__ import annotations

import json

from sqlalchemy import select

from broker.auth.sessions import hash_token
from broker.db import utcnow
from broker.desktops.events import EventHub, demos_of
from broker.models import AuditEvent, Connection, Desktop, User
from broker.tunnels.service import end_watches_no_longer_allowed
from tests.teacher import test_teacher

school = test_teacher.school  # the fixture: tess teaches 5a (anna), tom 6b (ben), boss is an admin


def running(db, school, *owners: str) -> None:
    for owner in owners:
        db.add(
            Desktop(
                id=f"d-{owner}",
                user_id=school["ids"][owner],
                desktop_type_id="base",
                state="running",
                address="10.9.0.2",
                started_at=utcnow(),
            )
        )
    db.commit()


def connect(client, headers, desktop_id: str, mode: str):
    return client.post(f"/api/desktops/{desktop_id}/connect", json={"mode": mode}, headers=headers)


def audited(db, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_teacher_may_help_students_of_their_groups_only_and_it_is_audited(app, app_factory, school, db):
    running(db, school, "anna", "ben", "tess")
    client = app.test_client()
    answer = connect(client, school["tess"], "d-anna", "help")
    assert answer.status_code == 200 and answer.get_json()["token"]
    [event] = audited(db, "desktop_help")
    assert (event.actor, event.target, event.details["owner"]) == ("tess", "desktop:d-anna", "anna")

    for who, desktop in (
        ("tom", "d-anna"),
        ("tess", "d-ben"),
        ("anna", "d-ben"),
        ("anna", "d-anna"),
        ("tess", "d-tess"),
    ):
        answer = connect(client, school[who], desktop, "help")
        assert answer.status_code == 404 and answer.get_json()["error"] == "desktop_not_found", (who, desktop)
    assert connect(client, school["boss"], "d-ben", "help").status_code == 200  # admins help anyone

    # The installation's switch: nobody takes control, watching still works.
    switched_off = app_factory(classroom_control="false").test_client()
    answer = connect(switched_off, school["tess"], "d-anna", "help")
    assert answer.status_code == 403 and answer.get_json()["error"] == "control_disabled"
    assert connect(switched_off, school["tess"], "d-anna", "view").status_code == 200
    assert switched_off.get(f"/api/teacher/groups/{school['5a']}/demo", headers=school["tess"]).get_json() == {
        "demo": None,
        "control": False,
    }


def test_the_student_sees_who_controls_and_ends_it_the_teacher_hands_back(app, school, db):
    running(db, school, "anna")
    ids = school["ids"]
    db.add_all(
        [
            Connection(id="help-tess", user_id=ids["tess"], desktop_id="d-anna", mode="help", protocol="guacamole"),
            Connection(id="help-boss", user_id=ids["boss"], desktop_id="d-anna", mode="help", protocol="guacamole"),
            Connection(id="own", user_id=ids["anna"], desktop_id="d-anna", mode="control", protocol="guacamole"),
        ]
    )
    db.commit()
    client = app.test_client()

    def status() -> dict:
        return client.get("/api/container/status", headers=school["anna"]).get_json()

    assert status()["controlled_by"] == ["Tess", "Boss"]
    assert client.post("/api/desktops/d-anna/help/end", headers=school["tom"]).status_code == 404
    assert client.post("/api/desktops/d-anna/help/end", headers=school["ben"]).status_code == 404

    answer = client.post("/api/desktops/d-anna/help/end", headers=school["tess"])  # hands back
    assert answer.get_json() == {"ended": 1}
    assert status()["controlled_by"] == ["Boss"]
    answer = client.post("/api/desktops/d-anna/help/end", headers=school["anna"])  # one click: everyone's
    assert answer.get_json() == {"ended": 1}
    assert status()["controlled_by"] == []
    db.expire_all()
    assert [(c.id, c.kill_reason) for c in db.scalars(select(Connection).order_by(Connection.id))] == [
        ("help-boss", "help_ended"),
        ("help-tess", "help_ended"),
        ("own", ""),  # the student's own connection goes on
    ]
    assert [(e.actor, e.details["by"]) for e in audited(db, "desktop_help_end")] == [
        ("tess", "helper"),
        ("anna", "owner"),
    ]


def test_a_demo_is_shown_to_the_groups_students_only_and_ends(app, school, db):
    running(db, school, "anna", "ben", "tess")
    client = app.test_client()
    demo_url = f"/api/teacher/groups/{school['5a']}/demo"

    # Not a student's, not another group's, not someone else's desktop.
    assert client.put(demo_url, json={"desktop_id": "d-tess"}, headers=school["anna"]).status_code == 403
    assert client.put(demo_url, json={"desktop_id": "d-tess"}, headers=school["tom"]).status_code == 403
    tom_demo = client.put(
        f"/api/teacher/groups/{school['6b']}/demo", json={"desktop_id": "d-anna"}, headers=school["tom"]
    )
    assert tom_demo.status_code == 404 and tom_demo.get_json()["error"] == "no_desktop"
    wrong = client.put(demo_url, json={"desktop_id": "d-ben"}, headers=school["tess"])
    assert wrong.status_code == 404
    assert client.put(demo_url, json={}, headers=school["tess"]).status_code == 400
    assert connect(client, school["anna"], "d-tess", "demo").status_code == 404  # no demo yet

    shown = client.put(demo_url, json={"desktop_id": "d-tess"}, headers=school["tess"])
    assert shown.status_code == 200, shown.get_json()
    assert shown.get_json()["demo"]["desktop_id"] == "d-tess"
    assert shown.get_json()["demo"]["started_by"]["username"] == "tess"
    assert client.get(demo_url, headers=school["tess"]).get_json()["demo"]["desktop_id"] == "d-tess"
    assert connect(client, school["anna"], "d-tess", "demo").status_code == 200
    for who in ("ben", "tess", "tom"):  # another group's student; teachers are never switched
        assert connect(client, school[who], "d-tess", "demo").status_code == 404, who
    assert connect(client, school["anna"], "d-tess", "view").status_code == 404  # a demo, not a watch
    assert client.get("/api/container/status", headers=school["tess"]).get_json()["shown_to_class"] is True
    assert _demo_event(app, school, "anna") == {
        "desktop_id": "d-tess",
        "title": {"en": "Base", "de": "Basis"},
        "by": "Tess",
        "of": "Tess",
    }
    assert _demo_event(app, school, "ben") is None

    db.add(
        Connection(
            id="anna-demo", user_id=school["ids"]["anna"], desktop_id="d-tess", mode="demo", protocol="guacamole"
        )
    )
    db.commit()
    assert client.delete(demo_url, headers=school["tom"]).status_code == 403
    ended = client.delete(demo_url, headers=school["tess"])
    assert ended.status_code == 200 and ended.get_json()["demo"] is None
    db.expire_all()
    assert db.get(Connection, "anna-demo").kill_reason == "demo_ended"
    assert connect(client, school["anna"], "d-tess", "demo").status_code == 404
    assert _demo_event(app, school, "anna") is None
    assert [(e.action, e.target) for e in audited(db, "demo_start") + audited(db, "demo_end")] == [
        ("demo_start", "desktop:d-tess"),
        ("demo_end", "desktop:d-tess"),
    ]


def test_a_students_desktop_shown_stays_theirs_and_a_stopped_one_returns_the_others(app, school, db):
    running(db, school, "anna", "tess")
    client = app.test_client()
    demo_url = f"/api/teacher/groups/{school['5a']}/demo"
    assert client.put(demo_url, json={"desktop_id": "d-anna"}, headers=school["tess"]).status_code == 200
    assert _demo_event(app, school, "anna") is None  # anna works on, told that her screen is shown
    assert client.get("/api/container/status", headers=school["anna"]).get_json()["shown_to_class"] is True
    assert client.put(demo_url, json={"desktop_id": "d-tess"}, headers=school["tess"]).status_code == 200  # replaced
    assert _demo_event(app, school, "anna")["desktop_id"] == "d-tess"
    db.get(Desktop, "d-tess").state = "stopped"
    db.commit()
    assert _demo_event(app, school, "anna") is None


def _demo_event(app, school, username: str) -> dict | None:
    """The `demo` event of the person's event stream."""
    token = school[username]["Authorization"].removeprefix("Bearer ")
    hub = EventHub(app.extensions["deskbroker"].sessions, {"demo": demos_of})
    with hub.subscribe(hash_token(token), school["ids"][username], background=False) as feed:
        hub.poll_now()
        [chunk] = feed.take(0)
    assert chunk.startswith("event: demo\n")
    return json.loads(chunk.split("\n")[1].removeprefix("data: "))["demo"]


def test_a_teacher_who_leaves_the_group_stops_helping(app, school, db):
    running(db, school, "anna")
    ids = school["ids"]
    db.add(Connection(id="help-tess", user_id=ids["tess"], desktop_id="d-anna", mode="help", protocol="guacamole"))
    db.commit()
    tess = db.get(User, ids["tess"])
    tess.groups.clear()
    assert end_watches_no_longer_allowed(db, tess) == 1
    db.commit()
    assert db.get(Connection, "help-tess").kill_reason == "watch_revoked"
