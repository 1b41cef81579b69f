"""Locks, messages and raised hands over the API: who may act on whom, what the student's classroom
and the wall then say, the audit log, and what a lock refuses (file uploads) and lets through. On
SQLite and PostgreSQL. The lock screen, dropped typing in a real desktop, messages and hands in
browsers: tests/teacher/test_classroom_lock.py."""

from __future__ import annotations

from sqlalchemy import select

from broker.models import AuditEvent, Group, RaisedHand, ScreenLock
from tests.teacher.test_teacher import school  # noqa: F401 - the fixture

GROUP = "/api/teacher/groups/{}"


def classroom_of(client, headers) -> dict:
    answer = client.get("/api/classroom", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_teacher_locks_her_group_and_one_student_and_unlocks_them(app, school, db):  # noqa: F811
    client, five_a = app.test_client(), GROUP.format(school["5a"])
    tess = school["tess"]
    assert classroom_of(client, school["anna"]) == {"lock": None, "messages": [], "hand_raised_at": None}

    locked = client.post(f"{five_a}/lock", json={"text": "  Eyes   to the front, please "}, headers=tess)
    assert locked.status_code == 200 and locked.get_json() == {"people": 1}  # anna; tess herself is no student
    lock = classroom_of(client, school["anna"])["lock"]
    assert lock["text"] == "Eyes to the front, please" and lock["by"] == "Tess" and lock["since"].endswith("Z")
    assert db.scalar(select(ScreenLock.user_id).where(ScreenLock.user_id == school["ids"]["tess"])) is None
    assert classroom_of(client, school["ben"])["lock"] is None  # another group

    wall = client.get(f"{five_a}/state", headers=tess).get_json()
    assert wall["watching"] is True
    assert [(p["user_id"], p["lock"]["text"], p["hand_raised_at"]) for p in wall["people"]] == [
        (school["ids"]["anna"], "Eyes to the front, please", None)
    ]

    # While locked, anna changes no files: a drop on the viewer is an upload, refused.
    refused = client.post("/api/files/home/upload?path=", data={"files": (b"x", "x.txt")}, headers=school["anna"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "screen_locked"
    assert client.get("/api/files/home", headers=school["anna"]).status_code != 403  # reading still works

    assert client.post(f"{five_a}/unlock", headers=tess).get_json() == {"people": 1}
    assert classroom_of(client, school["anna"])["lock"] is None
    # One student: locked alone, then unlocked alone.
    one = {"user_id": school["ids"]["anna"], "text": "Come to my desk"}
    assert client.post(f"{five_a}/lock", json=one, headers=tess).get_json() == {"people": 1}
    assert classroom_of(client, school["anna"])["lock"]["text"] == "Come to my desk"
    assert client.post(f"{five_a}/unlock", json={"user_id": school["ids"]["anna"]}, headers=tess).status_code == 200
    assert classroom_of(client, school["anna"])["lock"] is None

    audit = db.scalars(select(AuditEvent).where(AuditEvent.action.like("classroom_%")).order_by(AuditEvent.id)).all()
    assert [(event.action, event.actor, event.target, event.details["people"]) for event in audit] == [
        ("classroom_lock", "tess", "group:5a", ["anna"]),
        ("classroom_unlock", "tess", "group:5a", ["anna"]),
        ("classroom_lock", "tess", "group:5a", ["anna"]),
        ("classroom_unlock", "tess", "group:5a", ["anna"]),
    ]
    assert audit[0].details["text"] == "Eyes to the front, please"


def test_a_teacher_cannot_lock_message_or_help_another_groups_students_and_a_student_cannot_at_all(app, school, db):  # noqa: F811
    client, five_a, six_b = app.test_client(), GROUP.format(school["5a"]), GROUP.format(school["6b"])
    for act, body in (("lock", {"text": "x"}), ("unlock", {}), ("messages", {"text": "x"})):
        # tess teaches 5a, not 6b: the group refuses her.
        refused = client.post(f"{six_b}/{act}", json=body, headers=school["tess"])
        assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_group", act
        # Through her own group she cannot reach ben, who is in 6b only.
        refused = client.post(f"{five_a}/{act}", json=body | {"user_id": school["ids"]["ben"]}, headers=school["tess"])
        assert refused.status_code == 404 and refused.get_json()["error"] == "not_in_group", act
        # Nor another teacher of her group, nor herself.
        refused = client.post(f"{five_a}/{act}", json=body | {"user_id": school["ids"]["tess"]}, headers=school["tess"])
        assert refused.status_code == 404, act
        for student in ("anna", "ben"):
            refused = client.post(f"{five_a}/{act}", json=body, headers=school[student])
            assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden", (act, student)
        assert client.post(f"{five_a}/{act}", json=body).status_code == 401
    assert client.get(f"{six_b}/state", headers=school["tess"]).status_code == 403
    assert client.get(f"{five_a}/state", headers=school["anna"]).status_code == 403
    assert client.delete(f"{six_b}/hands/{school['ids']['ben']}", headers=school["tess"]).status_code == 403
    assert db.scalars(select(ScreenLock)).all() == []
    assert classroom_of(client, school["ben"])["messages"] == []

    # Admins act for every group.
    assert client.post(f"{six_b}/lock", json={"text": "Pause"}, headers=school["boss"]).get_json() == {"people": 1}
    assert classroom_of(client, school["ben"])["lock"]["by"] == "Boss"
    assert client.post(f"{six_b}/lock", json={"text": "x" * 201}, headers=school["boss"]).status_code == 400
    assert client.post(f"{six_b}/lock", json=["no object"], headers=school["boss"]).status_code == 400


def test_a_message_reaches_the_group_and_each_dismisses_their_own(app, school, db):  # noqa: F811
    client, five_a = app.test_client(), GROUP.format(school["5a"])
    db.get(Group, school["5a"]).members.append(_student(app, db, "cara"))
    db.commit()
    sent = client.post(f"{five_a}/messages", json={"text": "Save your work now."}, headers=school["tess"])
    assert sent.status_code == 201 and sent.get_json() == {"people": 2}
    client.post(
        f"{five_a}/messages", json={"text": "Only you", "user_id": school["ids"]["anna"]}, headers=school["tess"]
    )
    anna = classroom_of(client, school["anna"])["messages"]
    assert [(m["text"], m["from"]) for m in anna] == [("Save your work now.", "Tess"), ("Only you", "Tess")]
    assert [m["text"] for m in classroom_of(client, school["cara"])["messages"]] == ["Save your work now."]

    assert client.post(f"/api/classroom/messages/{anna[0]['id']}/dismiss", headers=school["cara"]).status_code == 404
    assert client.post(f"/api/classroom/messages/{anna[0]['id']}/dismiss", headers=school["anna"]).status_code == 200
    assert [m["text"] for m in classroom_of(client, school["anna"])["messages"]] == ["Only you"]
    assert [m["text"] for m in classroom_of(client, school["cara"])["messages"]] == ["Save your work now."]
    assert client.post(f"{five_a}/messages", json={"text": "   "}, headers=school["tess"]).status_code == 400
    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "classroom_message")).all()
    assert [(event.details["people"], event.details["text"]) for event in audit] == [
        (["anna", "cara"], "Save your work now."),
        (["anna"], "Only you"),
    ]


def test_a_raised_hand_shows_on_the_wall_until_a_teacher_helps_or_the_student_withdraws(app, school, db):  # noqa: F811
    client, five_a = app.test_client(), GROUP.format(school["5a"])
    anna = school["ids"]["anna"]
    raised = client.post("/api/classroom/hand", headers=school["anna"])
    assert raised.status_code == 200 and raised.get_json()["hand_raised_at"].endswith("Z")
    assert classroom_of(client, school["anna"])["hand_raised_at"] == raised.get_json()["hand_raised_at"]
    wall = client.get(f"{five_a}/state", headers=school["tess"]).get_json()["people"]
    assert wall[0]["hand_raised_at"] is not None

    assert client.delete(f"{five_a}/hands/{anna}", headers=school["tom"]).status_code == 403  # not his group
    helped = client.delete(f"{five_a}/hands/{anna}", headers=school["tess"])
    assert helped.status_code == 200
    assert client.get(f"{five_a}/state", headers=school["tess"]).get_json()["people"][0]["hand_raised_at"] is None
    assert client.delete(f"{five_a}/hands/{anna}", headers=school["tess"]).status_code == 404  # nothing raised

    client.post("/api/classroom/hand", headers=school["anna"])
    assert client.delete("/api/classroom/hand", headers=school["anna"]).get_json() == {"hand_raised_at": None}
    assert db.scalars(select(RaisedHand)).all() == []
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("classroom_hand%")).order_by(AuditEvent.id)
    )
    assert list(actions) == [
        "classroom_hand_raise",
        "classroom_hand_helped",
        "classroom_hand_raise",
        "classroom_hand_withdraw",
    ]


def test_with_watching_turned_off_nobody_watches_but_locks_and_messages_still_work(app_factory, school):  # noqa: F811
    client = app_factory(classroom_watching="false").test_client()  # the same database, watching off
    five_a = GROUP.format(school["5a"])
    assert client.post("/api/teacher/groups/1/lock").status_code != 500
    assert client.get(f"{five_a}/state", headers=school["tess"]).get_json()["watching"] is False
    refused = client.get("/api/teacher/desktops/any/thumbnail", headers=school["tess"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "watching_off"
    assert client.post(f"{five_a}/lock", json={"text": "x"}, headers=school["tess"]).status_code == 200


def _student(app, db, username: str):
    from broker.auth.users import create_local_user
    from tests.teacher.test_teacher import PASSWORD

    user, _ = create_local_user(db, username, PASSWORD, [], username.title())
    return user
