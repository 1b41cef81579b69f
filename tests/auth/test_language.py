"""The person's language, stored with their account by the pages' language toggle: the session says it,
every signed-in page carries it (web/src/i18n.js prefers it to the browser's), desktops speak it
(tests/desktops/test_desktop_language.py). On SQLite and PostgreSQL."""

import re

from broker.auth.users import create_local_user
from broker.models import User
from tests.auth.test_local_sign_in import PASSWORD, sign_in


def page_language(client, path: str) -> str | None:
    found = re.search(r'<meta name="person-language" content="(\w*)">', client.get(path).get_data(as_text=True))
    return found.group(1) if found else None


def test_the_toggle_stores_the_language_with_the_person(app, db):
    create_local_user(db, "anna", PASSWORD)
    db.commit()
    client = app.test_client()
    csrf = sign_in(client, "anna").get_json()["csrf_token"]
    assert client.get("/api/auth/session").get_json()["user"]["language"] is None
    assert page_language(client, "/") == "" and page_language(client, "/desktops/d1/view") == ""

    answer = client.put("/api/auth/language", json={"language": "en"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200 and answer.get_json() == {"language": "en"}
    assert client.get("/api/auth/session").get_json()["user"]["language"] == "en"
    assert page_language(client, "/") == "en" and page_language(client, "/files") == "en"
    assert page_language(client, "/desktops/d1/view") == "en"
    db.expire_all()
    assert db.query(User).filter_by(username="anna").one().language == "en"


def test_only_german_or_english_and_only_by_the_person(app, db):
    create_local_user(db, "anna", PASSWORD)
    db.commit()
    client = app.test_client()
    csrf = sign_in(client, "anna").get_json()["csrf_token"]
    for body in ({"language": "fr"}, {"language": None}, {}, ["en"]):
        answer = client.put("/api/auth/language", json=body, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_language", body
    assert client.put("/api/auth/language", json={"language": "en"}).status_code == 403  # no CSRF token
    assert app.test_client().put("/api/auth/language", json={"language": "en"}).status_code == 401
    assert page_language(app.test_client(), "/") is None  # the sign-in page: nobody's language
    assert client.get("/api/auth/session").get_json()["user"]["language"] is None
