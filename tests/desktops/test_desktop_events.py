"""The dashboard's event stream (GET /api/events): the process's hub polled by hand,
and the route through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from functools import partial

from sqlalchemy import event

from broker.auth.sessions import hash_token
from broker.auth.users import create_local_user
from broker.db import utcnow
from broker.desktops.events import EventHub, desktop_events, desktops_of
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


def desktops_hub(app) -> EventHub:
    return EventHub(app.extensions["deskbroker"].sessions, {"desktops": desktops_of})


def test_changes_are_sent_once_and_the_stream_ends_when_signed_out(app, db):
    user, token = setup_person(app, db)
    hub = desktops_hub(app)
    with hub.subscribe(hash_token(token), user.id, background=False) as feed:

        def poll() -> list[tuple[str, object]]:
            hub.poll_now()
            return events_of(feed.take(0))

        assert poll() == [("desktops", {"desktops": []})]
        assert poll() == []  # nothing changed: nothing sent
        db.add(Desktop(id="d1", user_id=user.id, desktop_type_id="base", state="starting"))
        db.commit()
        [(name, data)] = poll()
        assert name == "desktops" and [d["state"] for d in data["desktops"]] == ["starting"]
        db.get(Desktop, "d1").state = "running"
        db.commit()
        db.get(Desktop, "d1").state = "stopping"  # changed twice between reads: only the newest is sent
        db.commit()
        hub.poll_now()
        db.get(Desktop, "d1").state = "running"
        db.commit()
        [(name, data)] = poll()
        assert [d["state"] for d in data["desktops"]] == ["running"]
        assert not feed.ended
        db.get(AuthSession, hash_token(token)).revoked_at = utcnow()
        db.commit()
        assert poll() == [("signed_out", {})] and feed.ended


def test_a_quiet_stream_gets_keep_alives(app, db):
    user, token = setup_person(app, db)
    stream = desktop_events(desktops_hub(app), hash_token(token), user.id, keepalive=0.2)
    assert next(stream).startswith("retry: ")
    assert events_of([next(stream)]) == [("desktops", {"desktops": []})]
    assert next(stream) == ": keep-alive\n\n"
    stream.close()


def test_a_class_of_streams_costs_the_database_what_one_does(app, db):
    """All the streams of a process are read in one poll: 30 people's, each with a running desktop
    (who helps on it, whether it is shown, folders due), cost the queries of one."""
    people = [create_local_user(db, f"pupil{n}", PASSWORD)[0] for n in range(30)]
    db.add(DesktopType(id="base", image="deskbroker/base:latest", title_en="Base", title_de="Basis"))
    for person in people:
        db.add(Desktop(id=f"d-{person.username}", user_id=person.id, desktop_type_id="base", state="running"))
        db.add(
            AuthSession(
                id=f"s-{person.username}", user_id=person.id, csrf_token="-", expires_at=utcnow() + timedelta(hours=1)
            )
        )
    db.commit()
    hub = desktops_hub(app)
    statements = []
    listen = partial(event.listen, app.extensions["deskbroker"].engine, "before_cursor_execute")
    listen(lambda *args: statements.append(args[2]))
    with contextlib.ExitStack() as streams:
        feeds = [streams.enter_context(hub.subscribe(f"s-{p.username}", p.id, background=False)) for p in people[:1]]
        hub.poll_now()
        one = len(statements)
        feeds += [streams.enter_context(hub.subscribe(f"s-{p.username}", p.id, background=False)) for p in people[1:]]
        statements.clear()
        hub.poll_now()
        assert len(statements) == one
        for person, feed in zip(people, feeds, strict=True):  # and each stream has its own person's desktops
            [(_name, data)] = events_of(feed.take(0))
            assert [d["id"] for d in data["desktops"]] == [f"d-{person.username}"]


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
