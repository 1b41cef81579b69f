"""schemathesis against /api/openapi.json on the live broker: generated requests (valid ones and ones
that break the document's schemas) for every documented operation, signed in by cookie with the
CSRF header, as a plain user, a teacher and an admin, each on every operation. No answer may be a
5xx, and every answer must match the document (status, content type, schema, headers). Then ids no
row can have (0, negative, beyond 64 bits, text where numbers go, NUL, overlong) in every id the
document names, in paths and bodies, as each of them: 404, as for an unknown id.

The data the requests may reach is the test's own: a class (teacher, student, group, assignment) made
here, and anna's desktop, which only stop-all would touch (skipped).

Not checked: that every schema-valid request is accepted. The document cannot say every rule (a
file name without control characters, an image reference that exists), and those answers are
documented 400s with a message."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from broker.app import api_document
from broker.models import DesktopTypeAssignment, Group, User
from tests.fixtures.hostile_stack import Person, Stack

pytestmark = pytest.mark.reliability

SPEC = api_document()  # what the broker serves

EXAMPLES = 6  # per operation and person: the whole hostile suite stays at a few minutes
SKIPPED = {
    ("GET", "/api/events"): "an endless event stream (the cross-user matrix reads its first event)",
    ("POST", "/api/admin/containers/stop-all"): "would stop anna's desktop, which the other tests use",
}

# A schema-breaking request is rejected by any 4xx with a message; 414 is the HTTP server refusing an
# overlong URL (a path longer than the document allows, in the query string).
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "414",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            }
        }
    }
)


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield


# Ids nobody's row can have, as a path or body value: beyond 32 and 64 bits, 0, negative, a fraction,
# text, NUL, non-ASCII digits, overlong. Text ids get the text ones.
BAD_WHOLE_IDS = [0, -1, 2**31, 2**63, 2**64 + 1, 10**40, -(2**64)]
NOT_WHOLE_NUMBERS = [1.5, "1e3", "abc", "\0", "１", "9" * 400]  # in a body: 400, a malformed field
BAD_TEXT_IDS = ["\0", "a\0b", "x" * 65, "x" * 300, "a b", "é", "😀", "a/b", "a\nb", "%00"]


def operations(stack: Stack):
    document = schemathesis.openapi.from_url(stack.url + "/api/openapi.json", config=CONFIG)
    for result in document.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIPPED:
            yield operation


def transport(stack: Stack, person: Person) -> dict:
    return {
        "base_url": stack.url,
        "headers": {"X-CSRF-Token": person.csrf},
        "cookies": {"deskbroker_session": person.token},
        "allow_redirects": False,
        "timeout": 30,
    }


def check(case, response, person: Person, sent: dict, failures: list[str]) -> None:
    try:
        case.validate_response(
            response, headers=sent["headers"], excluded_checks=[positive_data_acceptance], transport_kwargs=sent
        )
    except FailureGroup as group:
        for failure in group.exceptions:
            failures.append(
                f"{person.username} {case.method} {case.formatted_path}: {failure.title}: "
                f"{failure.message[:300]} [{response.status_code} {response.text[:150]!r}]"
            )


def fuzz(stack: Stack, people: list[Person], failures: list[str]) -> tuple[int, int]:
    """Every operation's generated cases as each person; (operations, requests)."""
    count = requests_ = 0
    for operation in operations(stack):
        count += 1

        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
            )
        )
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case) -> None:
            nonlocal requests_
            for index, current in enumerate(people):
                sent = transport(stack, current)
                response = case.call(**sent)
                requests_ += 1
                check(case, response, current, sent, failures)
                if response.status_code < 300 and case.method != "GET" and not stack.session_alive(current):
                    people[index] = stack.sign_in(current.username, current.user_id)  # it signed itself out

        run()
    return count, requests_


def id_fields(operation) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]], list[str]]:
    """The operation's ids in its path and in its JSON body, (name, whole number?), and in its query."""
    path = [
        (parameter.name, parameter.definition["schema"].get("type") == "integer")
        for parameter in operation.path_parameters
        if parameter.name.endswith("_id")
    ]
    documented = SPEC["paths"][operation.path][operation.method.lower()]  # what the broker serves
    query = [
        parameter["name"]
        for parameter in documented.get("parameters", [])  # not ?session_id=, the sign-in
        if parameter["in"] == "query" and parameter["name"].endswith("_id")
    ]
    fields = documented.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in fields:
        fields = SPEC["components"]["schemas"][fields["$ref"].split("/")[-1]]
    body = [
        (name, field.get("type") == "integer")
        for name, field in fields.get("properties", {}).items()
        if name.endswith("_id")
    ]
    return path, body, query


def wanted(where: str, bad: object, privileged: bool, student: bool) -> int:
    """In a path, any bad id is 404 (the route is not found); in a body or query, a whole number is 404 (no row has
    it; a query's text is one if it is ASCII digits) and anything else a malformed field (400); a student's body or
    query on the teacher's and admin's routes is 403, as the route is not his at all."""
    if where == "path":
        return 404
    if privileged and student:
        return 403
    whole = (isinstance(bad, int) and (where == "body" or bad >= 0)) or (
        where == "query" and isinstance(bad, str) and bad.isascii() and bad.isdigit()
    )
    return 404 if whole else 400


def bad_ids(stack: Stack, people: list[Person], valid: dict, failures: list[str]) -> int:
    """Every documented id, in paths, bodies and queries, with values no row can have, as each person (the first a
    student); the answers must be documented ones and as `wanted` says."""
    requests_ = 0
    for operation in operations(stack):
        path, body, query = id_fields(operation)
        good = {parameter.name: valid.get(parameter.name, "x") for parameter in operation.path_parameters}
        tries = [
            ("path", bad, {"path_parameters": {**good, name: quote(str(bad), safe="")}})
            for name, whole in path
            for bad in (BAD_WHOLE_IDS + NOT_WHOLE_NUMBERS if whole else BAD_TEXT_IDS)
        ]
        tries += [
            (
                "body",
                bad,
                {"path_parameters": good, "body": {**valid["body"], name: bad}, "media_type": "application/json"},
            )
            for name, whole in body
            for bad in (BAD_WHOLE_IDS + NOT_WHOLE_NUMBERS if whole else BAD_TEXT_IDS)
        ]
        tries += [
            ("query", bad, {"path_parameters": good, "query": {name: bad}})
            for name in query
            for bad in BAD_WHOLE_IDS + NOT_WHOLE_NUMBERS
        ]
        privileged = operation.path.startswith(("/api/admin/", "/api/teacher/"))
        for where, bad, parts in tries:
            for current in people:
                case = operation.Case(**parts)
                sent = transport(stack, current)
                response = case.call(**sent)
                requests_ += 1
                check(case, response, current, sent, failures)
                expected = wanted(where, bad, privileged, current is people[0])
                if response.status_code != expected:
                    failures.append(
                        f"{current.username} {case.method} {case.formatted_path} {where} {bad!r:.40}: "
                        f"{response.status_code}, not {expected} [{response.text[:150]!r}]"
                    )
    return requests_


def own_class(stack: Stack) -> tuple[Person, Person, Person, dict]:
    """kim (a student), tia (her teacher) in a group of their own with an assignment, lea (an admin); the
    valid ids of this data for the routes' other arguments."""
    kim, tia, lea = stack.person("kim"), stack.person("tia", ("teacher",)), stack.person("lea", ("admin",))
    with stack.sessions() as db:
        group = Group(key=f"fuzz-{kim.username}", name="Fuzz class")
        group.members.extend(db.scalars(select(User).where(User.id.in_([kim.user_id, tia.user_id]))))
        db.add(group)
        db.flush()
        assignment = DesktopTypeAssignment(desktop_type_id="base", user_id=kim.user_id, created_by_id=tia.user_id)
        db.add(assignment)
        db.commit()
        valid = {"group_id": group.id, "assignment_id": assignment.id, "body": {"desktop_type": "base", "folder": None}}
    return kim, tia, lea, valid


def test_generated_requests_get_documented_answers_and_no_5xx(hostile_stack, figures):
    stack = hostile_stack
    failures: list[str] = []
    kim, tia, lea, _valid = own_class(stack)
    count, requests_ = fuzz(stack, [kim, tia, lea], failures)
    server_errors = [failure for failure in failures if "Server error" in failure]
    figures.record(
        "schemathesis: 5xx answers (student, teacher, admin)",
        f"{len(server_errors)} of {requests_} requests ({count} operations)",
        "0",
        not server_errors,
    )
    figures.record(
        "schemathesis: answers not matching /api/openapi.json", f"{len(failures)} of {requests_}", "0", not failures
    )
    assert stack.state_of(stack.anna.person)["desktops"][0][1] == "running"
    assert not failures, "\n".join(sorted(set(failures)))


def test_ids_no_row_can_have_are_404_in_every_path_and_body_for_everyone(hostile_stack, figures):
    stack = hostile_stack
    failures: list[str] = []
    kim, tia, lea, valid = own_class(stack)
    requests_ = bad_ids(stack, [kim, tia, lea], valid, failures)
    figures.record(
        "ids beyond 64 bits, 0, negative, NUL, text: answers other than a documented 404",
        f"{len(failures)} of {requests_} requests",
        "0",
        not failures,
    )
    assert stack.state_of(stack.anna.person)["desktops"][0][1] == "running"
    with stack.sessions() as db:  # the class's own assignment is still there: no bad id reached it
        assert db.get(DesktopTypeAssignment, valid["assignment_id"]) is not None
    assert requests_ > 200 and not failures, "\n".join(failures)
