"""The dashboard's event stream (GET /api/events): the service on its own with a scripted clock,
and the route through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from broker.auth.sessions import hash_token
from broker.auth.users import create_local_user
from broker.db import utcnow
from broker.desktops.events import desktop_events
from broker.desktops.schemas import desktop_json
from broker.models import AuthSession, Desktop, DesktopType

PASSWORD = "correct horse battery"


def events_of(chunks: list[str]) -> list[tuple[str, object]]:
    found = []
    for chunk in chunks:
        if chunk.startswith("event: "):
            name, data = chunk.split("\n")[:2]
            found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
        elif chunk.startswith(":"):
            found.append(("comment", chunk.strip()))
    return found


def setup_person(app, db):
    user, _ = create_local_user(db, "erin", PASSWORD)
    db.add(DesktopType(id="base", image="deskbroker/base:latest", title_en="Base", title_de="Basis"))
    db.commit()
    token = (
        app.test_client()
        .post("/api/auth/local/login", json={"username": "erin", "password": PASSWORD})
        .get_json()["session_token"]
    )
    return user, token


def test_changes_are_sent_once_with_keep_alives_between_and_the_stream_ends_when_signed_out(app, db):
    user, token = setup_person(app, db)
    sessions = app.extensions["deskbroker"].sessions
    now = [0.0]
    script = iter(
        [
            lambda: None,  # nothing changes: no second event
            lambda: db.add(Desktop(id="d1", user_id=user.id, desktop_type_id="base", state="starting")),
            lambda: db.get(Desktop, "d1").__setattr__("state", "running"),
            lambda: None,
            lambda: None,  # quiet for 16 s: a keep-alive
            lambda: db.get(AuthSession, hash_token(token)).__setattr__("revoked_at", utcnow()),
        ]
    )

    def sleep(seconds):
        now[0] += 8
        next(script)()
        db.commit()

    with app.app_context():
        chunks = list(
            desktop_events(sessions, hash_token(token), user.id, desktop_json, sleep=sleep, clock=lambda: now[0])
        )
    assert chunks[0].startswith("retry: ")
    events = events_of(chunks)
    assert [name for name, _ in events] == ["desktops", "desktops", "desktops", "comment", "signed_out"]
    assert events[0][1] == {"desktops": []}
    assert [d["state"] for d in events[1][1]["desktops"]] == ["starting"]
    assert events[2][1]["desktops"][0] | {"state": "x"} == events[1][1]["desktops"][0] | {"state": "x"}
    assert events[2][1]["desktops"][0]["state"] == "running"
    assert events[3][1] == ": keep-alive"


def test_the_route_streams_and_ends_for_a_revoked_session(app, db):
    user, token = setup_person(app, db)
    db.add(Desktop(id="d2", user_id=user.id, desktop_type_id="base", state="stopped", state_reason="Idle."))
    db.commit()
    client = app.test_client()
    assert client.get("/api/events").status_code == 401
    answer = client.get("/api/events", headers={"Authorization": f"Bearer {token}"}, buffered=False)
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    assert answer.headers["Cache-Control"] == "no-cache"
    stream = iter(answer.response)
    assert next(stream).decode().startswith("retry: ")
    name, data = events_of([next(stream).decode()])[0]
    assert name == "desktops" and [(d["id"], d["state"], d["reason"]) for d in data["desktops"]] == [
        ("d2", "stopped", "Idle.")
    ]
    # Then the person's classroom: no lock, no messages, no hand raised.
    assert events_of([next(stream).decode()])[0] == (
        "classroom",
        {"lock": None, "messages": [], "hand_raised_at": None},
    )
    db.get(AuthSession, hash_token(token)).revoked_at = utcnow()
    db.commit()
    # Then what a teacher shows them (nothing: null), and the end.
    assert events_of([chunk.decode() for chunk in stream]) == [("demo", {"demo": None}), ("signed_out", {})]
    answer.close()
