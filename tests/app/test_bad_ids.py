"""Ids no row can have (0, negative, beyond 64 bits, fractions, NUL, overlong text) are answered 404, as unknown
ids are, on every route argument and every id field of a body or query; never a 500. As a student, a teacher and
an admin, on SQLite and PostgreSQL (PostgreSQL refuses NUL in text and compares integers above 2^63 badly)."""

from __future__ import annotations

import re

from sqlalchemy import select

from broker.models import DesktopTypeAssignment
from tests.teacher.test_teacher import assign, school  # noqa: F401 - the fixture

_ARGUMENT = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")
# Percent-encoded as they would travel; the test client decodes them as a server does.
NOT_WHOLE_IDS = [
    "0",
    "00",
    "-1",
    "2147483648",
    str(2**63),
    str(2**64 + 1),
    "9" * 40,
    "1e3",
    "0x10",
    "1.0",
    "abc",
    "%00",
    "%EF%BC%91",
    "1%00",
]
NOT_TEXT_IDS = ["%00", "a%00b", "%ff%fe", "x" * 65, "a%20b", "%C3%A9", "a%0Ab", "%F0%9F%98%80", "a%2Fb"]
BODY_IDS = [0, -1, 2**31, 2**63, 2**64 + 1, 10**40]
PEOPLE = ("anna", "tess", "boss")  # a student, a teacher, an admin


def routes_with_ids(app) -> list[tuple[str, str, list[tuple[str, str]]]]:
    found = []
    for rule in app.url_map.iter_rules():
        arguments = [(name, kind) for kind, name in _ARGUMENT.findall(rule.rule)]
        if any(kind in ("id", "key") for _, kind in arguments):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((method, rule.rule, arguments))
    return found


def url(rule: str, arguments: list[tuple[str, str]], bad_name: str, bad: str) -> str:
    good = {"id": "1", "key": "base", "": "home"}
    return _ARGUMENT.sub(lambda m: bad if m.group(2) == bad_name else good[m.group(1) or ""], rule)


def test_every_id_in_a_route_is_a_bounded_whole_number_or_a_bounded_text(app):
    plain = [
        f"{rule.rule}: {name}"
        for rule in app.url_map.iter_rules()
        for kind, name in _ARGUMENT.findall(rule.rule)
        if name.endswith("_id") and kind not in ("id", "key")
    ]
    assert not plain, f"id arguments without the id or key converter: {plain}"
    assert len(routes_with_ids(app)) >= 12


def test_ids_no_row_can_have_are_404_in_every_route_for_everyone(app, school):  # noqa: F811
    client, answers = app.test_client(), []
    for method, rule, arguments in routes_with_ids(app):
        for name, kind in arguments:
            if kind not in ("id", "key"):
                continue
            for bad in NOT_WHOLE_IDS if kind == "id" else NOT_TEXT_IDS:
                for person in PEOPLE:
                    answer = client.open(
                        url(rule, arguments, name, bad), method=method, json={}, headers=school[person]
                    )
                    answers.append((person, method, rule, bad, answer.status_code))
                    said = answer.get_json()["message"] if rule.startswith("/api/") else answer.get_data(as_text=True)
                    assert said, answers[-1]  # JSON for the API, the error page for the viewer page
    wrong = [found for found in answers if found[-1] != 404]
    assert not wrong, wrong
    assert len(answers) > 300


def test_unknown_ids_at_the_edge_of_the_range_are_404_for_teachers_and_admins(app, school):  # noqa: F811
    client = app.test_client()
    for person in ("tess", "boss"):
        for path in ("/api/teacher/groups/2147483647/members", "/api/teacher/groups/2147483647/desktops"):
            answer = client.get(path, headers=school[person])
            assert answer.status_code == 404 and answer.get_json()["error"] == "no_group", (person, path)
        answer = client.delete("/api/teacher/assignments/2147483647", headers=school[person])
        assert answer.status_code == 404 and answer.get_json()["error"] == "no_assignment"


def test_ids_in_bodies_and_queries_that_name_nothing_are_404(app, school, db):  # noqa: F811
    client = app.test_client()
    for person in ("tess", "boss"):
        for bad in BODY_IDS:
            answer = assign(client, school[person], desktop_type="base", group_id=bad)
            assert (answer.status_code, answer.get_json()["error"]) == (404, "no_group"), (person, bad)
            answer = assign(client, school[person], desktop_type="base", user_id=bad)
            assert (answer.status_code, answer.get_json()["error"]) == (404, "no_user"), (person, bad)
            if bad >= 0:
                answer = client.get(f"/api/teacher/assignments?group_id={bad}", headers=school[person])
                assert (answer.status_code, answer.get_json()["error"]) == (404, "no_group"), (person, bad)
        for bad in ("\0", "a\0b", "x" * 5000, "base\n", "é", 7, None):
            answer = assign(client, school[person], desktop_type=bad, group_id=school["5a"])
            assert (answer.status_code, answer.get_json()["error"]) == (404, "unknown_desktop_type"), (person, bad)
        answer = client.get("/api/files/assignment-" + "9" * 30, headers=school[person])
        assert answer.status_code == 404, person
    assert db.scalars(select(DesktopTypeAssignment)).all() == []

    for person in PEOPLE:  # a desktop type to start that no row can have: no such type
        for bad in ("%00", "a%00b", "x" * 100):
            answer = client.post(f"/api/container/start?desktop_type={bad}", headers=school[person])
            assert (answer.status_code, answer.get_json()["error"]) == (404, "unknown_desktop_type"), (person, bad)


def test_search_text_with_nul_is_refused_not_a_server_error(app, school):  # noqa: F811
    client = app.test_client()
    for path in (
        "/api/admin/users?query=a%00b",
        "/api/admin/containers?query=%00",
        "/api/admin/audit?action=%00",
        "/api/admin/containers?desktop_type=%00",
    ):
        answer = client.get(path, headers=school["boss"])
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_text", (path, answer.get_json())
