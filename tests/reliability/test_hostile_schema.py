"""schemathesis against /api/openapi.json on the live broker: generated requests (valid ones and ones
that break the document's schemas) for every documented operation, signed in by cookie with the
CSRF header, as an admin and teacher on their routes and as a plain user on the others. No answer
may be a 5xx, and every answer must match the document (status, content type, schema, headers).

Not checked: that every schema-valid request is accepted. The document cannot say every rule (a
file name without control characters, an image reference that exists), and those answers are
documented 400s with a message."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.reliability.hostile_stack import Person, Stack

EXAMPLES = 6  # per operation and person: the whole hostile suite stays at a few minutes
SKIPPED = {
    ("GET", "/api/events"): "an endless event stream (the cross-user matrix reads its first event)",
    ("POST", "/api/admin/containers/stop-all"): "would stop anna's desktop, which the other tests use",
}

# A schema-breaking request is rejected by any 4xx with a message; 414 is the HTTP server refusing an
# overlong URL (a path longer than the document allows, in the query string).
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429"]}}})


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield


def fuzz(stack: Stack, people: dict[bool, Person], failures: list[str]) -> tuple[int, int]:
    """Run every operation's generated cases, privileged ones as people[True]; (operations, requests)."""
    schema = schemathesis.openapi.from_url(stack.url + "/api/openapi.json", config=CONFIG)
    operations = requests_ = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        privileged = operation.path.startswith(("/api/admin/", "/api/teacher/"))

        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE)))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case) -> None:
            nonlocal requests_
            current = people[privileged]
            headers = {"X-CSRF-Token": current.csrf}
            cookies = {"deskbroker_session": current.token}
            transport = {"base_url": stack.url, "headers": headers, "cookies": cookies, "allow_redirects": False,
                         "timeout": 30}
            response = case.call(**transport)
            requests_ += 1
            try:
                case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance],
                                       transport_kwargs=transport)
            except FailureGroup as group:
                for failure in group.exceptions:
                    failures.append(f"{current.username} {case.method} {case.formatted_path}: {failure.title}: "
                                    f"{failure.message[:300]} [{response.status_code} {response.text[:150]!r}]")
            if response.status_code < 300 and case.method != "GET" and not stack.session_alive(current):  # signed out
                people[privileged] = stack.sign_in(current.username, current.user_id)

        run()
    return operations, requests_


def test_generated_requests_get_documented_answers_and_no_5xx(hostile_stack, figures):
    stack = hostile_stack
    failures: list[str] = []
    operations, requests_ = fuzz(stack, {False: stack.person("kim"), True: stack.person("lea", ("admin", "teacher"))},
                                 failures)
    server_errors = [failure for failure in failures if "Server error" in failure]
    figures.record("schemathesis: 5xx answers", f"{len(server_errors)} of {requests_} requests "
                   f"({operations} operations)", "0", not server_errors)
    figures.record("schemathesis: answers not matching /api/openapi.json", f"{len(failures)} of {requests_}", "0",
                   not failures)
    assert stack.state_of(stack.anna.person)["desktops"][0][1] == "running"
    assert not failures, "\n".join(sorted(set(failures)))
