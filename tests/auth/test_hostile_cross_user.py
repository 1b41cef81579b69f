"""Cross-user matrix: bert, a plain user, calls every route with anna's ids, tokens and paths, and
opens her tunnel and websockify tokens. Nothing may reveal anything of hers he did not send himself,
and nothing of hers may change (checked after every changing request, in the database, on the engine
and in her home volume). Plain users get 403 on every admin and teacher route; nobody signed out gets
past the sign-in routes."""

from __future__ import annotations

import json

import pytest
import requests
import websocket

from broker.auth.sessions import hash_token as _hash
from broker.rfb import AuthenticationFailed, RFBClient
from broker.tunnels.guacd import CLIENT_UNAUTHORIZED
from tests.fixtures.hostile_stack import Owner, revealed
from tests.support.hostile_routes import http_routes, read
from tests.tier.containers import WebSocketStream

pytestmark = pytest.mark.reliability

PRIVILEGED = ("/api/admin/", "/api/teacher/")


def values_for(name: str, converter: str, anna: Owner) -> list[object]:
    """anna's identifiers for a route argument, by what its name says it is (whole numbers for <id:…>)."""
    lowered = name.lower()
    if lowered == "space":
        found = ["home", "public"]
    elif "desktop" in lowered or "container" in lowered:
        found = [anna.desktop_id, anna.container_id]
    elif "connection" in lowered:
        found = [anna.connection_id, anna.live_connection_id]
    elif "user" in lowered or "student" in lowered or "person" in lowered:
        found = [anna.person.user_id, anna.person.username]
    elif "group" in lowered or "class" in lowered:
        found = [anna.group_id, anna.group_key]
    elif "type" in lowered:
        found = ["base"]
    else:
        found = [anna.desktop_id, anna.person.user_id, anna.connection_id, anna.group_id]
    if converter == "id":
        found = [value for value in found if isinstance(value, int)] or [anna.person.user_id, anna.group_id]
    return found


def combinations(arguments: tuple[tuple[str, str], ...], anna: Owner) -> list[dict[str, object]]:
    combos: list[dict[str, object]] = [{}]
    for name, converter in arguments:
        combos = [{**combo, name: value} for combo in combos for value in values_for(name, converter, anna)]
    return combos


def variants(method: str, anna: Owner) -> list[dict]:
    """The request's query and body: bare, then full of anna's references."""
    refs = {
        "desktop_type": "base",
        "path": anna.file,
        "desktop_id": anna.desktop_id,
        "id": anna.desktop_id,
        "connection_id": anna.connection_id,
        "user_id": anna.person.user_id,
        "group_id": anna.group_id,
    }
    found = [{}, {"params": refs}]
    if method != "GET":
        body = {**refs, "name": "renamed-by-bert", "to": anna.folder}
        found += [
            {"params": refs, "json": {**body, "mode": "view", "protocol": "guacamole"}},
            {"params": refs, "json": {**body, "mode": "control", "protocol": "novnc"}},
            {"params": refs, "files": [("files", (anna.file, b"bert's"))]},
        ]
    return found


def sent_text(url: str, variant: dict) -> str:
    return (
        url
        + json.dumps(variant.get("params", {}))
        + json.dumps(variant.get("json", {}))
        + json.dumps([name for _, (name, _) in variant.get("files", [])])
    )


def test_another_persons_requests_reveal_and_change_nothing_of_hers(hostile_stack, figures):
    stack, anna = hostile_stack, hostile_stack.anna
    bert = stack.person("bert")
    secrets_ = anna.secrets()
    before = stack.state_of(anna.person)
    leaks, server_errors, privileged_answers, count, answered = [], [], [], 0, 0

    for route in http_routes(stack.app):
        for values in combinations(route.arguments, anna):
            url = route.url(values)
            for variant in variants(route.method, anna):
                answer = bert.call(route.method, url, stream=True, **variant)
                text, count, answered = read(answer), count + 1, answered + answer.ok
                where = f"{route.method} {url} {sorted(variant)}"
                if answer.status_code >= 500:
                    server_errors.append(f"{where}: {answer.status_code} {text[:200]}")
                if found := revealed(text, secrets_, sent_text(url, variant)):
                    leaks.append(f"{where}: {answer.status_code} reveals {sorted(found)}")
                if route.rule.startswith(PRIVILEGED) and answer.status_code != 403:
                    privileged_answers.append(f"{where}: {answer.status_code}")
                if route.changes:
                    if (after := stack.state_of(anna.person)) != before:
                        changed = [key for key in before if before[key] != after[key]]
                        leaks.append(f"{where}: {answer.status_code} changed anna's {changed}")
                        before = after
                    if answer.ok and not stack.session_alive(bert):  # he signed himself out
                        bert = stack.sign_in(bert.username, bert.user_id)

    # Her tunnel token, with his sign-in in each of the ways a session travels: refused, and not burned.
    token = stack.tunnel_token(anna.person)
    before = stack.state_of(anna.person)
    transports = {
        "bearer": {"header": [f"Authorization: Bearer {bert.token}"]},
        "cookie": {"cookie": f"deskbroker_session={bert.token}"},
        "session header": {"header": [f"X-Session-ID: {bert.token}"]},
    }
    for how, options in transports.items():
        count += 1
        seen = stack.viewer(token, **options).until("sync")
        if ("error", ["The connection link has expired or was already used.", str(CLIENT_UNAUTHORIZED)]) not in seen:
            leaks.append(f"/tunnel with anna's token, bert's session by {how}: {seen[:3]}")
    count += 1
    seen = stack.viewer(token, query=f"&session_id={bert.token}").until("sync")
    if not seen or seen[-1][0] != "error":
        leaks.append(f"/tunnel with anna's token, bert's ?session_id=: {seen[:3]}")
    if stack.state_of(anna.person) != before:
        leaks.append("/tunnel attempts changed anna's state (her token burned?)")
    own = stack.viewer(token)  # still hers to use
    if not own.drawn():
        leaks.append("anna's tunnel token no longer works after bert's attempts")
    own.close()

    # Her noVNC token: useless to him once she used it, and without her VNC password even before.
    novnc = stack.connect(anna.person, protocol="novnc").json()
    used = novnc["websockify_url"].split("token=", 1)[1]
    with RFBClient.over(WebSocketStream(stack.websockify(used)), novnc["password"]) as session:
        assert session.width > 0
    count += 1
    try:
        stack.websockify(used).recv()
        leaks.append("websockify let bert replay anna's used noVNC token")
    except (websocket.WebSocketException, OSError):
        pass
    fresh = stack.connect(anna.person, protocol="novnc").json()["websockify_url"].split("token=", 1)[1]
    count += 1
    try:
        with RFBClient.over(WebSocketStream(stack.websockify(fresh)), "guessed"):
            leaks.append("websockify and the desktop let bert in with anna's token and a guessed password")
    except AuthenticationFailed:
        pass

    assert stack.state_of(anna.person)["desktops"][0][1] == "running"
    figures.record("cross-user leaks", f"{len(leaks)} of {count} requests ({answered} answered 2xx)", "0", not leaks)
    figures.record("cross-user 5xx answers", f"{len(server_errors)} of {count} requests", "0", not server_errors)
    figures.record(
        "plain user on admin/teacher routes: answers other than 403",
        str(len(privileged_answers)),
        "0",
        not privileged_answers,
    )
    assert not leaks, "\n".join(leaks)
    assert answered > 20, "bert's own requests hardly ever worked: the matrix tested nothing"
    assert not server_errors, "\n".join(server_errors)
    assert not privileged_answers, "\n".join(privileged_answers)


def test_nobody_signed_out_gets_past_the_sign_in(hostile_stack, figures):
    """Every /api route but the documented public ones answers 401 without a session, with a forged or
    overlong one, and with what the database keeps of anna's (the token's hash) or her CSRF token."""
    stack, anna = hostile_stack, hostile_stack.anna.person
    wrong, count = [], 0
    routes = [route for route in http_routes(stack.app) if not route.public]
    credentials = [
        {},
        {"Authorization": "Bearer forged-" + "x" * 40},
        {"X-Session-ID": "y" * 5000},
        {"Cookie": "deskbroker_session=" + "z" * 300},
        {"Authorization": f"Bearer {_hash(anna.token)}"},
        {"X-Session-ID": anna.csrf},
    ]
    for route in routes:
        for values in combinations(route.arguments, stack.anna):
            for headers in credentials:
                count += 1
                answer = requests.request(
                    route.method,
                    stack.url + route.url(values),
                    headers=headers,
                    timeout=30,
                    allow_redirects=False,
                    stream=True,
                )
                text = read(answer)
                sent = route.url(values) + json.dumps(headers)
                if answer.status_code != 401 or revealed(text, stack.anna.secrets(), sent):
                    wrong.append(f"{route} {values} {list(headers)}: {answer.status_code} {text[:120]}")
    figures.record("signed-out requests answered other than 401", f"{len(wrong)} of {count}", "0", not wrong)
    assert not wrong, "\n".join(wrong)


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield
