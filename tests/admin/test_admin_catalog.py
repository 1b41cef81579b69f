"""The desktop-type catalog as admins edit it: every type, changes checked and audited, icons checked by
content, admin-made types, and an image's labels no longer overwriting what an admin changed; on SQLite
and PostgreSQL."""

import io
import struct
import zlib

import pytest
from sqlalchemy import select

from broker.auth.current import COOKIE_NAME
from broker.auth.users import create_local_user
from broker.desktops.catalog import sync_catalog
from broker.images.catalog import CatalogEntry, CatalogImage, LocalizedText
from broker.models import AuditEvent, Desktop, DesktopType, DesktopTypeAssignment
from tests.admin.test_admin import PASSWORD, bearer

SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8">'
    b'<rect width="8" height="8"/></svg>'
)


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG picture of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def image_entry(
    title: str = "Base", description: str = "From the image", icon: str = "user-desktop", min_memory_mb: int = 512
) -> CatalogImage:
    entry = CatalogEntry(
        id="base",
        image="deskbroker/base:latest",
        title=LocalizedText(de=title, en=title),
        description=LocalizedText(de=description, en=description),
        icon=icon,
        vnc_port=5901,
        min_memory_mb=min_memory_mb,
    )
    return CatalogImage(entry.image, (entry.image,), 0, entry, None)


@pytest.fixture
def people(app, db):
    """boss (admin) and anna; `base` from an image (with anna's desktop), `old` disabled and admin-made."""
    create_local_user(db, "boss", PASSWORD, ["admin"], "The Boss")
    anna, _ = create_local_user(db, "anna", PASSWORD, [], "Anna")
    sync_catalog(db, [image_entry()])
    db.add(DesktopType(id="old", image="x/old:1", title_en="Old", title_de="Alt", enabled=False, source="admin"))
    db.add(Desktop(id="d-anna", user_id=anna.id, desktop_type_id="base", state="stopped"))
    db.commit()
    return {name: bearer(app, name) for name in ("boss", "anna")}


def call(app, people, method: str, path: str, person: str = "boss", **kwargs):
    return getattr(app.test_client(), method)(path, headers=people[person], **kwargs)


def audited(db, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def user_types(app, people) -> dict[str, dict]:
    return {
        kind["id"]: kind for kind in call(app, people, "get", "/api/container/list", "anna").get_json()["desktop_types"]
    }


def test_the_whole_catalog_disabled_types_too(app, people):
    types = call(app, people, "get", "/api/admin/desktop-types").get_json()["desktop_types"]
    assert [kind["id"] for kind in types] == ["base", "old"]
    base, old = types
    assert base["source"] == "image" and base["enabled"] and base["desktops"] == 1
    assert base["title"] == {"de": "Base", "en": "Base"} and base["icon"] == "user-desktop"
    assert (base["memory_mb"], base["vnc_port"], base["admin_fields"]) == (1024, 5901, [])
    assert old["source"] == "admin" and not old["enabled"] and old["desktops"] == 0
    assert list(user_types(app, people)) == ["base"]  # people see the enabled ones only


def test_an_edit_changes_only_what_was_sent_and_is_audited(app, people, db):
    body = {
        "title": {"en": "Office desktop", "de": "Büro-Desktop"},
        "description": {"en": "From the image"},
        "memory_mb": 2048,
        "cpus": 1.5,
        "pids_limit": 2048,
        "shm_size_mb": 256,
        "max_running": 10,
    }
    answer = call(app, people, "patch", "/api/admin/desktop-types/base", json=body)
    assert answer.status_code == 200, answer.get_json()
    kind = answer.get_json()
    assert kind["title"] == {"en": "Office desktop", "de": "Büro-Desktop"}
    assert (kind["memory_mb"], kind["cpus"], kind["pids_limit"], kind["shm_size_mb"], kind["max_running"]) == (
        2048,
        1.5,
        2048,
        256,
        10,
    )
    # The description sent was the image's own: not changed, so the image keeps it.
    assert kind["admin_fields"] == [
        "cpus",
        "max_running",
        "memory_mb",
        "pids_limit",
        "shm_size_mb",
        "title_de",
        "title_en",
    ]
    assert user_types(app, people)["base"]["title"]["de"] == "Büro-Desktop"
    [event] = audited(db, "admin_desktop_type_update")
    assert event.actor == "boss" and event.target == "base"
    assert event.details["changed"]["title_en"] == "Office desktop" and "description_en" not in event.details["changed"]

    again = call(app, people, "patch", "/api/admin/desktop-types/base", json={"max_running": None})
    assert again.get_json()["max_running"] is None
    assert call(app, people, "patch", "/api/admin/desktop-types/base", json={"cpus": 1.5}).status_code == 200
    assert len(audited(db, "admin_desktop_type_update")) == 2  # nothing changed, nothing recorded


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"memory_mb": 10}, "memory_mb is a whole number from 64"),
        ({"memory_mb": "2048"}, "memory_mb is a whole number"),
        ({"cpus": 0}, "cpus is a number from 0.1 to 256"),
        ({"cpus": True}, "cpus is a number"),
        ({"pids_limit": 10**7}, "pids_limit is a whole number"),
        ({"shm_size_mb": 0}, "shm_size_mb is a whole number from 1 to 65536 (or null for none)"),
        ({"max_running": -1}, "max_running is a whole number"),
        ({"enabled": "yes"}, "enabled is true or false"),
        ({"sound": "off"}, "sound is true or false"),
        ({"title": {"en": " "}}, "title.en may not be empty"),
        ({"title": {"fr": "Bureau"}}, "title is an object"),
        ({"title": "Office"}, "title is an object"),
        ({"description": {"de": "x" * 2001}}, "description.de is a text of at most 2000"),
        ({"colour": "red"}, "Unknown field(s): colour"),
        ({"id": "other"}, "id cannot change"),
        ({"image": "evil/image:latest"}, "image of a type from an image comes from the image"),
        ({"vnc_port": 5902}, "vnc_port of a type from an image"),
        ({"egress": "everything"}, "egress is one of none, internet, proxy"),
        ({"egress": None}, "egress is one of"),
        ([], "JSON object"),
    ],
)
def test_bad_edits_are_refused_with_the_field_named(app, people, body, message):
    answer = call(app, people, "patch", "/api/admin/desktop-types/base", json=body)
    assert answer.status_code == 400 and message in answer.get_json()["message"], answer.get_json()


def test_the_images_labels_no_longer_overwrite_what_an_admin_changed(app, people, db):
    call(
        app,
        people,
        "patch",
        "/api/admin/desktop-types/base",
        json={"title": {"en": "Office", "de": "Büro"}, "memory_mb": 256},
    )
    call(app, people, "post", "/api/admin/desktop-types/base/icon", data={"icon": (io.BytesIO(png()), "i.png")})
    db.expire_all()
    report = sync_catalog(
        db, [image_entry(title="New image title", description="New text", icon="new-icon", min_memory_mb=768)]
    )
    assert report.updated == ["base"]
    kind = db.get(DesktopType, "base")
    assert (kind.title_en, kind.title_de, kind.memory_mb) == ("Office", "Büro", 256)  # the admin's
    assert kind.icon.startswith("data:image/png;base64,")
    assert (kind.description_en, kind.description_de) == ("New text", "New text")  # the image's own
    assert sorted(kind.admin_fields) == ["icon", "memory_mb", "title_de", "title_en"]


def test_disabling_a_type_hides_it_from_people(app, people, db):
    answer = call(app, people, "patch", "/api/admin/desktop-types/base", json={"enabled": False})
    assert answer.status_code == 200 and not answer.get_json()["enabled"]
    assert user_types(app, people) == {}
    refused = call(app, people, "post", "/api/container/start?desktop_type=base", "anna")
    assert refused.status_code == 404 and refused.get_json()["error"] == "unknown_desktop_type"
    call(app, people, "patch", "/api/admin/desktop-types/old", json={"enabled": True})
    assert list(user_types(app, people)) == ["old"]
    assert [e.details["changed"] for e in audited(db, "admin_desktop_type_update")] == [
        {"enabled": False},
        {"enabled": True},
    ]


def test_icons_are_checked_by_content_and_size(app, people, db):
    def upload(data: bytes, name: str = "icon.png", field: str = "icon"):
        return call(
            app,
            people,
            "post",
            "/api/admin/desktop-types/base/icon",
            data={field: (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )

    picture = png()
    answer = upload(picture)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["icon"].startswith("data:image/png;base64,")
    assert "icon" in answer.get_json()["admin_fields"]
    assert user_types(app, people)["base"]["icon"] == answer.get_json()["icon"]
    assert upload(SVG, "logo.svg").get_json()["icon"].startswith("data:image/svg+xml;base64,")
    assert upload(b"\xff\xd8\xff\xe0" + bytes(100), "photo.jpg").get_json()["icon"].startswith("data:image/jpeg;")
    assert upload(b"RIFF\x10\0\0\0WEBPVP8 " + bytes(20), "p.webp").get_json()["icon"].startswith("data:image/webp;")
    for data, name in [
        (b"#!/bin/sh\necho hi\n", "script.png"),
        (b"<html><svg></svg></html>", "page.svg"),
        (b"", "empty.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "y.svg"),
    ]:
        refused = upload(data, name)
        assert refused.status_code == 400 and refused.get_json()["error"] == "bad_icon", name
    too_big = upload(picture + bytes(256 * 1024))
    assert too_big.status_code == 413 and "256 KiB" in too_big.get_json()["message"]
    assert upload(picture, field="file").status_code == 400
    assert (
        call(
            app, people, "post", "/api/admin/desktop-types/none/icon", data={"icon": (io.BytesIO(picture), "i.png")}
        ).status_code
        == 404
    )
    events = audited(db, "admin_desktop_type_icon")
    assert [e.details["picture"] for e in events] == ["image/png", "image/svg+xml", "image/jpeg", "image/webp"]


def test_admins_make_and_delete_types_of_their_own(app, people, db):
    body = {
        "id": "office",
        "image": "registry.example/office:2",
        "title": {"en": "Office", "de": "Büro"},
        "description": {"en": "Writer and Calc", "de": "Writer und Calc"},
        "memory_mb": 2048,
        "vnc_port": 5902,
    }
    made = call(app, people, "post", "/api/admin/desktop-types", json=body)
    assert made.status_code == 201, made.get_json()
    office = made.get_json()
    assert (office["source"], office["image"], office["vnc_port"], office["memory_mb"], office["enabled"]) == (
        "admin",
        "registry.example/office:2",
        5902,
        2048,
        True,
    )
    assert office["cpus"] == 1.0 and office["admin_fields"] == [] and office["desktops"] == 0
    assert user_types(app, people)["office"]["description"]["de"] == "Writer und Calc"
    assert call(app, people, "post", "/api/admin/desktop-types", json=body).status_code == 409
    changed = call(app, people, "patch", "/api/admin/desktop-types/office", json={"image": "x/office:3"})
    assert changed.get_json()["image"] == "x/office:3" and changed.get_json()["admin_fields"] == []

    for bad, message in [
        ({**body, "id": "Office Desk"}, "id is lowercase"),
        ({**body, "id": None}, "id is"),
        ({"id": "new", "image": "x/y"}, "needs title.en, title.de"),
        ({"id": "new", "title": body["title"]}, "needs image"),
        ({**body, "id": "new", "image": "bad image"}, "image is an image reference"),
    ]:
        answer = call(app, people, "post", "/api/admin/desktop-types", json=bad)
        assert answer.status_code == 400 and message in answer.get_json()["message"], (bad, answer.get_json())

    db.add(
        DesktopTypeAssignment(
            desktop_type_id="office", user_id=db.scalar(select(Desktop.user_id).where(Desktop.id == "d-anna"))
        )
    )
    db.commit()
    deleted = call(app, people, "delete", "/api/admin/desktop-types/office")
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": "office"}
    assert "office" not in user_types(app, people)
    image_type = call(app, people, "delete", "/api/admin/desktop-types/base")
    assert image_type.status_code == 409 and image_type.get_json()["error"] == "image_desktop_type"
    db.add(Desktop(id="d-old", user_id=None, desktop_type_id="old", state="stopped"))
    db.commit()
    in_use = call(app, people, "delete", "/api/admin/desktop-types/old")
    assert in_use.status_code == 409 and in_use.get_json()["error"] == "desktop_type_in_use"
    assert call(app, people, "delete", "/api/admin/desktop-types/none").status_code == 404
    assert [e.target for e in audited(db, "admin_desktop_type_create")] == ["office"]
    assert [e.target for e in audited(db, "admin_desktop_type_delete")] == ["office"]


def test_cookie_signed_in_catalog_changes_need_the_csrf_token(app, people):
    client = app.test_client()
    answer = client.post("/api/auth/local/login", json={"username": "boss", "password": PASSWORD}).get_json()
    client.set_cookie(COOKIE_NAME, answer["session_token"])
    assert client.patch("/api/admin/desktop-types/base", json={"enabled": False}).status_code == 403
    icon = {"icon": (io.BytesIO(png()), "i.png")}
    assert client.post("/api/admin/desktop-types/base/icon", data=icon).status_code == 403
    ok = client.patch(
        "/api/admin/desktop-types/base", json={"enabled": False}, headers={"X-CSRF-Token": answer["csrf_token"]}
    )
    assert ok.status_code == 200


def test_an_admin_opens_a_type_to_the_internet_and_its_people_see_it(app, people, db):
    """Egress is the admin's choice (an image cannot ask for it): set in the catalog, shown on the card."""
    listing = call(app, people, "get", "/api/container/list", person="anna").get_json()
    assert {kind["id"]: kind["egress"] for kind in listing["desktop_types"]} == {"base": "none"}
    answer = call(app, people, "patch", "/api/admin/desktop-types/base", json={"egress": "internet"})
    assert answer.status_code == 200 and answer.get_json()["egress"] == "internet", answer.get_json()
    listing = call(app, people, "get", "/api/container/list", person="anna").get_json()
    assert {kind["id"]: kind["egress"] for kind in listing["desktop_types"]} == {"base": "internet"}
    # anna's desktop has no container yet: it will start with the type's egress
    assert [desktop["egress"] for desktop in listing["desktops"]] == ["internet"]
    assert audited(db, "admin_desktop_type_update")[-1].details["changed"]["egress"] == "internet"
    # an image's labels do not take it back
    sync_catalog(db, [image_entry()])
    db.expire_all()
    assert db.get(DesktopType, "base").egress == "internet"


def test_sound_is_on_for_every_type_until_an_admin_turns_it_off(app, people, db):
    """Off: the owner's connections carry no sound from then on (the answer to connect says so)."""
    listing = call(app, people, "get", "/api/admin/desktop-types").get_json()["desktop_types"]
    assert {kind["id"]: kind["sound"] for kind in listing} == {"base": True, "old": True}
    desktop = db.get(Desktop, "d-anna")
    desktop.state, desktop.address = "running", "10.0.0.5"
    db.commit()
    connect = lambda mode: call(app, people, "post", "/api/desktops/d-anna/connect", "anna", json={"mode": mode})  # noqa: E731
    assert connect("control").get_json()["sound"] is True
    answer = call(app, people, "patch", "/api/admin/desktop-types/base", json={"sound": False})
    assert answer.status_code == 200 and answer.get_json()["sound"] is False, answer.get_json()
    assert audited(db, "admin_desktop_type_update")[-1].details["changed"] == {"sound": False}
    assert connect("control").get_json()["sound"] is False
    sync_catalog(db, [image_entry()])  # an image's labels do not turn it back on
    db.expire_all()
    assert db.get(DesktopType, "base").sound is False
