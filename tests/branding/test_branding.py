"""Branding over HTTP: the public look, admins' changes checked and audited, pictures checked by their
bytes, the stylesheet and pictures every page links, who may change it, CSRF; on SQLite and PostgreSQL."""

import io

import pytest
from sqlalchemy import select

from broker.app import create_app
from broker.auth.current import COOKIE_NAME
from broker.auth.users import create_local_user
from broker.models import AuditEvent
from tests.admin.test_admin import PASSWORD, bearer
from tests.admin.test_admin_catalog import SVG, png
from tests.fixtures.broker import make_settings


def admin_requests() -> list[tuple[str, str, dict]]:
    """Every admin-only branding request (method, path, arguments), each with a body of its own."""
    return [
        ("patch", "/api/admin/branding", {"json": {"app_name": "X"}}),
        ("put", "/api/admin/branding", {"json": {}}),
        ("delete", "/api/admin/branding", {}),
        ("get", "/api/admin/branding/palette", {}),
        ("post", "/api/admin/branding/logo", {"data": {"logo": (io.BytesIO(png()), "l.png")}}),
        ("delete", "/api/admin/branding/favicon", {}),
    ]


ICO = b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + bytes(60)


@pytest.fixture
def people(app, db):
    create_local_user(db, "boss", PASSWORD, ["admin"], "The Boss")
    create_local_user(db, "tom", PASSWORD, ["teacher"], "Tom Teacher")
    create_local_user(db, "anna", PASSWORD, [], "Anna Schmidt")
    db.commit()
    return {name: bearer(app, name) for name in ("boss", "tom", "anna")}


def as_admin(app, people, method: str, path: str, **kwargs):
    return getattr(app.test_client(), method)(path, headers=people["boss"], **kwargs)


def upload(app, people, kind: str, data: bytes, name: str = "picture.png", field: str | None = None):
    return as_admin(
        app,
        people,
        "post",
        f"/api/admin/branding/{kind}",
        data={field or kind: (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def audited(db, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_everyone_sees_the_defaults_until_an_admin_changes_them(client):
    look = client.get("/api/branding").get_json()  # not signed in: the sign-in page needs it
    assert (look["app_name"], look["primary_colour"], look["accent_colour"]) == ("deskbroker", "#0b57d0", "#8ab4f8")
    assert look["logo_url"] is None and look["custom_favicon"] is False and look["updated_at"] is None
    assert look["palette"]["brand"] == "#0b57d0" and look["palette"]["brand-on"] == "#ffffff"
    css = client.get(look["stylesheet_url"])
    assert css.status_code == 200 and css.mimetype == "text/css" and "--brand: #0b57d0;" in css.text
    favicon = client.get(look["favicon_url"])  # the default: the name's initial on the primary colour
    assert favicon.mimetype == "image/svg+xml" and b'fill="#0b57d0"' in favicon.data and b">D</text>" in favicon.data
    assert client.get("/branding/logo").status_code == 404
    page = client.get("/").text
    assert '<title data-i18n="login.title">Sign in · deskbroker</title>' in page
    assert f'<link rel="icon" href="{look["favicon_url"]}">' in page and look["stylesheet_url"] in page


def test_an_admin_changes_name_and_colours_and_every_page_follows(app, people, db):
    before = app.test_client().get("/api/branding").get_json()
    answer = as_admin(
        app,
        people,
        "patch",
        "/api/admin/branding",
        json={"app_name": "  Gymnasium   Nord ", "primary_colour": "#FFD700"},
    )
    assert answer.status_code == 200, answer.get_json()
    look = answer.get_json()
    assert (look["app_name"], look["primary_colour"], look["accent_colour"]) == ("Gymnasium Nord", "#ffd700", "#8ab4f8")
    assert look["version"] != before["version"] and look["stylesheet_url"] != before["stylesheet_url"]
    # Yellow: black text on it; links and focus rings darkened until readable on the light pages.
    assert look["palette"]["brand-on"] == "#000000" and look["palette"]["brand-ink"] != "#ffd700"
    assert app.test_client().get("/api/branding").get_json() == look

    css = app.test_client().get(look["stylesheet_url"]).text
    assert "--brand: #ffd700;" in css and f"--brand-ink: {look['palette']['brand-ink']};" in css
    for path, person in (
        ("/", None),
        ("/", "anna"),
        ("/files", "anna"),
        ("/desktops/x/view", "anna"),
        ("/admin/branding", "boss"),
    ):
        client = app.test_client()
        if person:
            client.set_cookie(COOKIE_NAME, people[person]["Authorization"].split()[1])
        page = client.get(path).text
        assert '<meta name="application-name" content="Gymnasium Nord">' in page, path
        assert look["stylesheet_url"] in page and look["favicon_url"] in page, path
        assert "deskbroker" not in page, path

    (event,) = audited(db, "branding_update")
    assert event.actor == "boss" and event.details == {"app_name": "Gymnasium Nord", "primary_colour": "#ffd700"}


def test_put_sets_every_field_and_empty_means_the_default(app, people):
    as_admin(
        app,
        people,
        "patch",
        "/api/admin/branding",
        json={"app_name": "Schule", "primary_colour": "#123456", "accent_colour": "#654321"},
    )
    look = as_admin(app, people, "put", "/api/admin/branding", json={"accent_colour": "#00aa00"}).get_json()
    assert (look["app_name"], look["primary_colour"], look["accent_colour"]) == ("deskbroker", "#0b57d0", "#00aa00")
    look = as_admin(app, people, "patch", "/api/admin/branding", json={"accent_colour": None}).get_json()
    assert look["accent_colour"] == "#8ab4f8"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"primary_colour": "red"}, "bad_colour"),
        ({"primary_colour": "#12345"}, "bad_colour"),
        ({"accent_colour": "#12345g"}, "bad_colour"),
        ({"accent_colour": 1193046}, "bad_colour"),
        ({"app_name": "x" * 61}, "bad_app_name"),
        ({"app_name": "bell\x07"}, "bad_app_name"),
        ({"app_name": ["a"]}, "bad_app_name"),
        ({"logo": "data:image/png;base64,AAAA"}, "bad_request"),
        (["app_name"], "bad_request"),
    ],
)
def test_bad_changes_are_refused_with_a_reason_and_nothing_changes(app, people, body, code):
    answer = as_admin(app, people, "patch", "/api/admin/branding", json=body)
    assert answer.status_code == 400 and answer.get_json()["error"] == code, answer.get_json()
    assert answer.get_json()["message"]
    assert app.test_client().get("/api/branding").get_json()["version"] == "0"


def test_pictures_are_checked_by_their_bytes_and_served_as_uploaded(app, people, db):
    logo = png(40, 20)
    answer = upload(app, people, "logo", logo, "whatever.txt")
    assert answer.status_code == 200, answer.get_json()
    logo_url = answer.get_json()["logo_url"]
    served = app.test_client().get(logo_url)
    assert served.status_code == 200 and served.data == logo and served.mimetype == "image/png"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"

    answer = upload(app, people, "favicon", ICO, "favicon.ico")
    assert answer.status_code == 200 and answer.get_json()["custom_favicon"] is True
    favicon = app.test_client().get(answer.get_json()["favicon_url"])
    assert favicon.data == ICO and favicon.mimetype == "image/x-icon"
    assert upload(app, people, "logo", SVG, "logo.svg").status_code == 200

    for data, name in [
        (b"<html><body>hi</body></html>", "page.svg"),
        (b"", "empty.png"),
        (b"GIF89a" + bytes(20), "a.gif"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "y.svg"),
    ]:
        refused = upload(app, people, "logo", data, name)
        assert refused.status_code == 400 and refused.get_json()["error"] == "bad_image", name
    too_big = upload(app, people, "favicon", png() + bytes(256 * 1024))
    assert too_big.status_code == 413 and too_big.get_json()["error"] == "image_too_large"
    assert upload(app, people, "logo", logo, field="file").status_code == 400
    assert upload(app, people, "banner", logo).status_code == 404
    assert app.test_client().get("/branding/banner").status_code == 404
    assert app.test_client().get(app.test_client().get("/api/branding").get_json()["logo_url"]).data == SVG

    assert as_admin(app, people, "delete", "/api/admin/branding/logo").get_json()["logo_url"] is None
    assert app.test_client().get("/branding/logo").status_code == 404
    assert [e.details for e in audited(db, "branding_image")] == [
        {"image": "logo", "type": "image/png", "bytes": len(logo)},
        {"image": "favicon", "type": "image/x-icon", "bytes": len(ICO)},
        {"image": "logo", "type": "image/svg+xml", "bytes": len(SVG)},
    ]
    assert [e.details for e in audited(db, "branding_image_remove")] == [{"image": "logo"}]


def test_favicon_ico_is_the_icon_every_page_links(app, people):
    """Browsers ask /favicon.ico where no page names an icon (a JSON answer, a picture opened on its own)."""
    client = app.test_client()
    default = client.get("/favicon.ico", follow_redirects=True)
    assert default.status_code == 200 and default.mimetype == "image/svg+xml" and b">D</text>" in default.data
    assert default.request.path == "/branding/favicon"

    assert upload(app, people, "favicon", ICO, "favicon.ico").status_code == 200
    uploaded = client.get("/favicon.ico", follow_redirects=True)
    assert uploaded.status_code == 200 and uploaded.mimetype == "image/x-icon" and uploaded.data == ICO
    # Always the current icon: the redirect is not kept, the versioned picture it leads to may be.
    answer = client.get("/favicon.ico")
    assert answer.status_code == 302 and "Cache-Control" not in answer.headers
    assert answer.headers["Location"] == client.get("/api/branding").get_json()["favicon_url"]


def test_reset_brings_back_every_default(app, people, db):
    as_admin(app, people, "patch", "/api/admin/branding", json={"app_name": "Schule", "primary_colour": "#222222"})
    upload(app, people, "logo", png())
    upload(app, people, "favicon", png())
    look = as_admin(app, people, "delete", "/api/admin/branding").get_json()
    assert (look["app_name"], look["primary_colour"], look["logo_url"], look["custom_favicon"]) == (
        "deskbroker",
        "#0b57d0",
        None,
        False,
    )
    assert b'fill="#0b57d0"' in app.test_client().get(look["favicon_url"]).data
    assert len(audited(db, "branding_reset")) == 1


def test_the_stylesheet_and_pictures_are_kept_only_for_their_version(app, people):
    client = app.test_client()
    old = client.get("/api/branding").get_json()["stylesheet_url"]
    assert client.get(old).headers["Cache-Control"] == "public, max-age=31536000, immutable"
    new = as_admin(app, people, "patch", "/api/admin/branding", json={"primary_colour": "#aa0000"}).get_json()
    stale = client.get(old)  # an old page's link: answered with the current look, not to be kept
    assert stale.headers["Cache-Control"] == "no-cache" and "--brand: #aa0000;" in stale.text
    assert client.get(new["stylesheet_url"]).headers["Cache-Control"].endswith("immutable")


def test_the_palette_preview_checks_its_colours(app, people):
    answer = as_admin(
        app, people, "get", "/api/admin/branding/palette?primary_colour=%23ffffff&accent_colour=%23000000"
    )
    assert answer.status_code == 200
    palette = answer.get_json()["palette"]
    assert (palette["brand"], palette["brand-on"], palette["brand-accent-on"]) == ("#ffffff", "#000000", "#ffffff")
    refused = as_admin(app, people, "get", "/api/admin/branding/palette?primary_colour=white")
    assert refused.status_code == 400 and refused.get_json()["error"] == "bad_colour"


def test_only_admins_may_change_the_branding(app, people):
    client = app.test_client()
    for person in (None, "tom", "anna"):
        for method, path, kwargs in admin_requests():
            refused = getattr(client, method)(path, headers=people[person] if person else {}, **kwargs)
            assert refused.status_code == (403 if person else 401), (method, path, person)
            assert refused.get_json()["error"] == ("forbidden" if person else "not_signed_in")
    assert client.get("/api/branding").get_json()["version"] == "0"

    page = app.test_client()
    assert page.get("/admin/branding").headers["Location"] in ("/", "http://localhost/")
    page.set_cookie(COOKIE_NAME, people["tom"]["Authorization"].split()[1])
    refused = page.get("/admin/branding")
    assert refused.status_code == 403 and "<html" in refused.text
    page.set_cookie(COOKIE_NAME, people["boss"]["Authorization"].split()[1])
    shown = page.get("/admin/branding")
    assert shown.status_code == 200 and 'id="branding-form"' in shown.text


def test_changes_with_the_session_cookie_need_the_csrf_token(app, people):
    browser = app.test_client()
    login = browser.post("/api/auth/local/login", json={"username": "boss", "password": PASSWORD}).get_json()
    refused = browser.patch("/api/admin/branding", json={"app_name": "Forged"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf_failed"
    refused = browser.post(
        "/api/admin/branding/logo", data={"logo": (io.BytesIO(png()), "l.png")}, headers={"X-CSRF-Token": "wrong"}
    )
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf_failed"
    assert browser.get("/api/branding").get_json()["app_name"] == "deskbroker"
    saved = browser.patch(
        "/api/admin/branding", json={"app_name": "Real"}, headers={"X-CSRF-Token": login["csrf_token"]}
    )
    assert saved.status_code == 200 and saved.get_json()["app_name"] == "Real"


def test_with_the_database_down_pages_still_show_in_the_default_look(tmp_path):
    client = create_app(make_settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'broker.db'}")).test_client()
    sign_in = client.get("/")
    assert sign_in.status_code == 200 and '<span class="brand" translate="no">deskbroker</span>' in sign_in.text
    client.set_cookie(COOKIE_NAME, "some-session")
    down = client.get("/files")  # the session cannot be looked up: the page says so, in the default look
    assert down.status_code == 503 and "/branding.css?v=0" in down.text and "database" in down.text
