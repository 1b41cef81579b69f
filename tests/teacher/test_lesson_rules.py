"""Lessons without the engine: who may run them, what an address for everyone may be, answers without a
lesson. On SQLite and PostgreSQL. The real thing (desktops, volumes, Chromium): test_lessons.py and
test_lessons_ui.py."""

from __future__ import annotations

import pytest

from broker.errors import Invalid
from broker.teacher.open_for_all import check_url
from tests.teacher.test_teacher import school  # noqa: F401 - the fixture


@pytest.mark.parametrize(
    "url",
    ["https://example.org/", "http://10.0.0.1:8080/a?b=c#d", "HTTPS://Example.org/Übung", "https://x.org/$(id);rm"],
)
def test_web_addresses_with_a_host_open(url):
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,hi",
        "ftp://example.org/",
        "https://",
        "//example.org/",
        "example.org",
        "-h",
        "https://a b.org/",
        "https://example.org/a\nb",
        "https://example.org/\x00",
        "http://[::1",
        "https://x.org/" + "a" * 2048,
        "",
        42,
        None,
    ],
)
def test_anything_else_is_refused(url):
    with pytest.raises(Invalid) as refused:
        check_url(url)
    assert refused.value.code == "bad_url"


def test_only_the_groups_teachers_and_admins_run_its_lessons(app, school):  # noqa: F811
    client = app.test_client()
    five_a = school["5a"]
    acts = [
        ("get", f"/api/teacher/groups/{five_a}/lesson", None),
        ("post", f"/api/teacher/groups/{five_a}/lesson/start", {"desktop_type": "base"}),
        ("post", f"/api/teacher/groups/{five_a}/lesson/end", None),
        ("post", f"/api/teacher/groups/{five_a}/open", {"url": "https://example.org/"}),
    ]
    for username in ("anna", "tom", "paul"):  # a student, another group's teacher, someone in no group
        for method, path, body in acts:
            answer = getattr(client, method)(path, json=body, headers=school[username])
            assert answer.status_code == 403, (username, path, answer.get_json())
    for username in ("tess", "boss"):
        answer = client.get(f"/api/teacher/groups/{five_a}/lesson", headers=school[username])
        assert answer.status_code == 200 and answer.get_json() == {"lesson": None, "handin_folder": "Abgabe"}
    assert client.get("/api/teacher/groups/999999/lesson", headers=school["tess"]).status_code == 404


def test_without_a_lesson_or_a_known_type_nothing_starts_or_ends(app, school):  # noqa: F811
    client, five_a = app.test_client(), school["5a"]
    ended = client.post(f"/api/teacher/groups/{five_a}/lesson/end", headers=school["tess"])
    assert (ended.status_code, ended.get_json()["error"]) == (404, "no_lesson")
    for body, status in (({"desktop_type": "nope"}, 404), ({"desktop_type": "old"}, 404), ({}, 400), ([], 400)):
        answer = client.post(f"/api/teacher/groups/{five_a}/lesson/start", json=body, headers=school["tess"])
        assert answer.status_code == status, (body, answer.get_json())
    for body in ({}, {"url": "javascript:alert(1)"}, {"assignment_id": "x", "path": "a"}):
        answer = client.post(f"/api/teacher/groups/{five_a}/open", json=body, headers=school["tess"])
        assert answer.status_code == 400, (body, answer.get_json())


def test_collecting_needs_an_assignment_of_ones_own_with_a_folder(app, school):  # noqa: F811
    client = app.test_client()
    made = client.post(
        "/api/teacher/assignments", json={"desktop_type": "base", "group_id": school["5a"]}, headers=school["tess"]
    ).get_json()
    for username, status in (("anna", 403), ("tom", 404), ("tess", 400)):
        answer = client.post(f"/api/teacher/assignments/{made['id']}/collect", headers=school[username])
        assert answer.status_code == status, (username, answer.get_json())
    assert client.post("/api/teacher/assignments/999999/collect", headers=school["tess"]).status_code == 404
