"""The admin dashboard's figures, everyone's desktops searched and filtered, and who may open /admin;
on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from broker.auth.current import COOKIE_NAME
from broker.auth.users import create_local_user
from broker.db import utcnow
from broker.models import Connection, Desktop, DesktopType
from tests.admin.test_admin import PASSWORD, bearer

ADMIN_API = [
    ("get", "/api/admin/stats"),
    ("get", "/api/admin/containers"),
    ("get", "/api/admin/desktop-types"),
    ("post", "/api/admin/desktop-types"),
    ("patch", "/api/admin/desktop-types/base"),
    ("delete", "/api/admin/desktop-types/base"),
    ("post", "/api/admin/desktop-types/base/icon"),
    ("post", "/api/admin/containers/stop-all"),
]


@pytest.fixture
def people(app, db):
    """boss (admin), tom (teacher); anna runs base and has stopped xfce; ben runs base; one pool desktop."""
    create_local_user(db, "boss", PASSWORD, ["admin"], "The Boss")
    create_local_user(db, "tom", PASSWORD, ["teacher"], "Tom Teacher")
    anna, _ = create_local_user(db, "anna", PASSWORD, [], "Anna Schmidt")
    ben, _ = create_local_user(db, "ben", PASSWORD, [], "Ben Berg")
    db.add_all(
        [
            DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"),
            DesktopType(id="xfce", image="deskbroker/xfce", title_en="XFCE desktop", title_de="XFCE-Desktop"),
            DesktopType(id="idle", image="x/idle", title_en="Unused", title_de="Unbenutzt", enabled=False),
        ]
    )
    db.flush()
    now = utcnow()
    db.add_all(
        [
            Desktop(
                id="d-anna",
                user_id=anna.id,
                desktop_type_id="base",
                state="running",
                created_at=now - timedelta(minutes=3),
            ),
            Desktop(
                id="d-anna-x",
                user_id=anna.id,
                desktop_type_id="xfce",
                state="stopped",
                created_at=now - timedelta(minutes=2),
            ),
            Desktop(
                id="d-ben",
                user_id=ben.id,
                desktop_type_id="base",
                state="running",
                created_at=now - timedelta(minutes=1),
            ),
            Desktop(id="d-pool", user_id=None, desktop_type_id="base", state="running", created_at=now),
        ]
    )
    db.flush()
    db.add_all(
        [
            Connection(id="c-live", user_id=anna.id, desktop_id="d-anna", mode="control", protocol="guacamole"),
            Connection(
                id="c-old", user_id=ben.id, desktop_id="d-ben", mode="control", protocol="guacamole", ended_at=now
            ),
        ]
    )
    db.commit()
    return {name: bearer(app, name) for name in ("boss", "tom", "anna")}


def test_nobody_but_admins_reaches_the_new_admin_api(app, people):
    client = app.test_client()
    for method, path in ADMIN_API:
        assert getattr(client, method)(path).status_code == 401, path
        for person in ("tom", "anna"):
            refused = getattr(client, method)(path, headers=people[person], json={})
            assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden", (path, person)


def test_the_admin_page_is_for_admins_only(app, people):
    client = app.test_client()
    assert client.get("/admin").headers["Location"] == "/"  # not signed in: to the sign-in page
    for person, status in (("anna", 403), ("tom", 403), ("boss", 200)):
        token = people[person]["Authorization"].split()[1]
        client.set_cookie(COOKIE_NAME, token)
        page = client.get("/admin")
        assert page.status_code == status and b"<html" in page.data, person
        assert (b'href="/admin"' in client.get("/").data) == (person == "boss"), person  # the nav link
    assert b"admin.js" in page.data and b"/admin/branding" in page.data


def test_the_figures(app, people):
    figures = app.test_client().get("/api/admin/stats", headers=people["boss"]).get_json()
    assert (figures["total"], figures["running"], figures["active_users"], figures["live_connections"]) == (4, 3, 2, 1)
    assert figures["states"] == {"running": 3, "stopped": 1}
    assert figures["per_type"] == [
        {"desktop_type": "base", "total": 3, "running": 3, "live_connections": 1},
        {"desktop_type": "idle", "total": 0, "running": 0, "live_connections": 0},
        {"desktop_type": "xfce", "total": 1, "running": 0, "live_connections": 0},
    ]


def ids(app, people, query: str = "") -> list[str]:
    answer = app.test_client().get(f"/api/admin/containers{query}", headers=people["boss"])
    assert answer.status_code == 200, answer.get_json()
    return [d["id"] for d in answer.get_json()["desktops"]]


def test_desktops_searched_by_owner_or_type_and_filtered(app, people):
    assert ids(app, people) == ["d-anna", "d-anna-x", "d-ben", "d-pool"]  # as before: all, oldest first
    assert ids(app, people, "?query=ANNA") == ["d-anna", "d-anna-x"]
    assert ids(app, people, "?query=schmidt") == ["d-anna", "d-anna-x"]  # display name
    assert ids(app, people, "?query=xfce-desk") == ["d-anna-x"]  # German title
    assert ids(app, people, "?query=bas") == ["d-anna", "d-ben", "d-pool"]
    assert ids(app, people, "?query=%25") == []  # % is a character, not a wildcard
    assert ids(app, people, "?state=running") == ["d-anna", "d-ben", "d-pool"]
    assert ids(app, people, "?state=stopped&query=anna") == ["d-anna-x"]
    assert ids(app, people, "?desktop_type=base&query=ben") == ["d-ben"]
    assert ids(app, people, "?desktop_type=none") == []
    answer = app.test_client().get("/api/admin/containers?state=sleeping", headers=people["boss"])
    assert answer.status_code == 400 and "state is one of" in answer.get_json()["message"]
