"""Malformed and oversized input: bodies, headers, query strings, path arguments, file names, and
Guacamole instructions over /tunnel. Every answer is a clean refusal (4xx with a message; on the
tunnel an `error` instruction), never a 5xx, never a stack trace, in the answer or the broker's log."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import quote, urlsplit

import pytest
import requests
import websocket

from broker.tunnels.guacd import CLIENT_BAD_REQUEST
from broker.tunnels.protocol import encode
from tests.fixtures.hostile_stack import Person, Stack
from tests.support.hostile_routes import Route, http_routes, read

pytestmark = pytest.mark.reliability

# Acts on every desktop (anna's too) whatever the body says: no malformed body reaches anything in it.
SPARED = {"/api/admin/containers/stop-all"}
JSON = "application/json"
DEEP = 100_000

BODIES: dict[str, tuple[bytes | str, str | None]] = {
    "bad JSON": ('{"path": ', JSON),
    "JSON array": ("[]", JSON),
    "JSON string": ('"path"', JSON),
    "JSON number": ("12", JSON),
    "JSON null": ("null", JSON),
    "deeply nested array": ("[" * DEEP + "]" * DEEP, JSON),
    "deeply nested object": ('{"a":' * DEEP + "1" + "}" * DEEP, JSON),
    "invalid UTF-8": (b'{"path": "\xff\xfe", "desktop_type": "\xc3"}', JSON),
    "UTF-16": ('{"path": "x", "desktop_type": "base"}'.encode("utf-16"), JSON),
    "lone surrogates": (
        '{"path": "\\ud800", "name": "\\udfff", "to": "\\ud800", "desktop_type": "\\ud800", '
        '"username": "\\ud800", "password": "\\udfff", "mode": "\\ud800"}',
        JSON,
    ),
    "NaN and Infinity": ('{"path": NaN, "name": Infinity, "limit": -Infinity, "max_running": NaN}', JSON),
    "wrong types": (
        '{"path": 1, "name": [], "to": {}, "desktop_type": 5, "mode": null, "protocol": true, '
        '"username": 1, "password": [], "group_id": "x", "user_id": [], "folder": 3, "title_en": {}, '
        '"enabled": "yes", "memory_mb": "lots", "cpus": -1, "colors": 7}',
        JSON,
    ),
    "huge numbers": (
        '{"group_id": 1e400, "user_id": 123456789012345678901234567890, "memory_mb": -1e308, '
        '"max_running": 99999999999999999999}',
        JSON,
    ),
    "XML": ("<path>x</path>", "application/xml"),
    "urlencoded form": ("path=x&desktop_type=base", "application/x-www-form-urlencoded"),
    "no content type": (b"\x00\x01\x02garbage", None),
    "multipart without boundary": ("--x--", "multipart/form-data"),
    "multipart cut short": (
        '--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nabc',
        "multipart/form-data; boundary=b",
    ),
    "multipart with a field": (
        '--b\r\nContent-Disposition: form-data; name="path"\r\n\r\nx\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
}
OVERSIZED = 17 << 20  # over the broker's 16 MiB request limit

# Names and paths: traversal, NUL and control characters, overlong, and Unicode that looks like something else.
NAMES = [
    "..",
    "../x",
    "a/../../x",
    "/etc/passwd",
    "..\\x",
    "a\x00b",
    "a\nb",
    "x" * 256,
    "€" * 86,
    "\u202egnp.exe",
    "\u2215etc\u2215passwd",
    "\uff0e\uff0e",
    "%2e%2e",
    "..%2f..%2fx",
    "a\ud800b",
    "\ufeff",
    " ",
    "CON",
    "-rf",
    "😀" * 64,
    "\u0000",
    "./",
    "a//b",
    "a/",
]


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield


def clean(answer: requests.Response, text: str) -> str | None:
    """Why an answer is not a clean one, or None."""
    if answer.status_code >= 500:
        return f"{answer.status_code}: {text[:200]}"
    if "Traceback" in text or 'File "/' in text:
        return f"stack trace in a {answer.status_code}"
    if answer.status_code >= 400:
        if answer.headers.get("Content-Type", "").startswith(JSON):
            body = json.loads(text)
            if not (isinstance(body, dict) and body.get("error") and body.get("message")):
                return f"{answer.status_code} without error and message: {text[:200]}"
        elif "<html" not in text.lower():
            return f"{answer.status_code} neither JSON nor a page: {text[:200]}"
    return None


def placeholders(route: Route) -> dict[str, object]:
    return {
        name: 999999 if converter == "id" else "home" if name == "space" else "no-such-thing"
        for name, converter in route.arguments
    }


def still_signed_in(stack: Stack, person: Person) -> Person:
    return person if stack.session_alive(person) else stack.sign_in(person.username, person.user_id)


def test_malformed_and_oversized_bodies_are_refused_cleanly(hostile_stack, figures):
    """As a plain user, and as an admin and teacher on their routes, so the bodies get past the role checks."""
    stack = hostile_stack
    people = {False: stack.person("gina"), True: stack.person("root", ("admin", "teacher"))}
    routes = [route for route in http_routes(stack.app) if route.changes and route.rule not in SPARED]
    oversized = {route.rule.split("/")[2] for route in routes}  # one route of each part of the API gets 17 MiB
    unclean, count = [], 0
    for route in routes:
        privileged = route.rule.startswith(("/api/admin/", "/api/teacher/"))
        person, url = people[privileged], route.url(placeholders(route))
        cases = dict(BODIES)
        if route.rule.split("/")[2] in oversized:
            oversized.discard(route.rule.split("/")[2])
            cases["over 16 MiB"] = (b"x" * OVERSIZED, JSON)
        for name, (body, content_type) in cases.items():
            headers = {"Content-Type": content_type} if content_type else {}
            try:
                answer = person.call(route.method, url, data=body, headers=headers, stream=True)
                text = read(answer)
            except requests.ConnectionError as error:  # refused before it read the whole body
                unclean.append(f"{person.username} {route} {name}: connection broken ({error})")
                continue
            count += 1
            if why := clean(answer, text):
                unclean.append(f"{person.username} {route} {name}: {why}")
            if answer.ok:
                people[privileged] = person = still_signed_in(stack, person)
    assert stack.state_of(stack.anna.person)["desktops"][0][1] == "running"
    figures.record("malformed bodies answered other than cleanly", f"{len(unclean)} of {count}", "0", not unclean)
    assert not unclean, "\n".join(unclean)


def raw(stack: Stack, request: bytes) -> tuple[int, str]:
    """Send bytes as they are (no client library tidies them up); the status and the answer's text."""
    host, port = urlsplit(stack.url).hostname, urlsplit(stack.url).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:  # closed with the rest of an overlong request unread, after answering
            pass
    if not received:
        return 0, "no answer at all"
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", errors="replace")


def test_malformed_requests_headers_and_queries_are_refused_cleanly(hostile_stack, figures):
    stack = hostile_stack
    hana = stack.person("hana")
    auth = f"Authorization: Bearer {hana.token}\r\n".encode()
    requests_ = {
        "header of 9000 bytes": b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"X-Big: "
        + b"a" * 9000
        + b"\r\nConnection: close\r\n\r\n",
        "200 headers": b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"".join(b"X-%d: y\r\n" % i for i in range(200))
        + b"Connection: close\r\n\r\n",
        "URL of 10000 bytes": b"GET /api/files/home/list?path="
        + b"a" * 10000
        + b" HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Connection: close\r\n\r\n",
        "bad request line": b"GARBAGE\r\n\r\n",
        "bad Content-Length": b"POST /api/files/home/folder HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Content-Length: abc\r\nConnection: close\r\n\r\n{}",
        "negative Content-Length": b"POST /api/files/home/folder HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Content-Length: -5\r\nConnection: close\r\n\r\n{}",
        "non-ASCII header": b"GET /api/auth/session HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"X-Name: \xff\xfe\xc3\r\nConnection: close\r\n\r\n",
        "NUL in the path": b"GET /api/files/home/list?path=a%00b HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Connection: close\r\n\r\n",
        "bad chunked body": b"POST /api/files/home/folder HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    }
    unclean = []
    for name, request in requests_.items():
        status, text = raw(stack, request)
        ignorable = name == "non-ASCII header"  # a header nobody reads may be answered as usual
        if not (200 if ignorable else 400) <= status < 500 or "Traceback" in text or not text.strip():
            unclean.append(f"{name}: {status} {text[:200]}")

    # Query strings and path arguments: bad percent-encodings, NUL, overlong, non-numbers where numbers go.
    queries = [
        "path=%ff%fe",
        "path=%00",
        "path=" + "a" * 4000,
        "limit=-1&offset=abc",
        "limit=1e309&offset=-0",
        "live=maybe",
        "desktop_type=%00",
        "desktop_type=" + "x" * 3000,
        "query=%ff",
        "group_id=abc",
        "group_id=-1",
        "mode=%ff&protocol=%00",
        "next=//evil.example",
        "width=abc&height=-1&dpi=1e9",
        "path=a&path=b",
        "%zz=%zz",
    ]
    arguments = ["%00", "%ff%fe", "..%2f..%2f", "a" * 2000, "%F0%9F%98%80", "-1", "0", "99999999999999999999"]
    count = len(requests_)
    for route in http_routes(stack.app):
        if route.changes:
            continue
        # Each hostile argument with a plain query, each hostile query with a plain argument.
        tries = [(argument, "") for argument in (arguments if route.arguments else [])]
        tries += [("x", query) for query in queries]
        for argument, query in tries:
            values = {
                name: ("home" if name == "space" else argument if converter != "id" else argument.lstrip("-"))
                for name, converter in route.arguments
            }
            url = f"{_raw_url(route, values)}?{query}"
            count += 1
            answer = hana.call("GET", url, stream=True)
            if why := clean(answer, read(answer)):
                unclean.append(f"{route} {url[:80]}: {why}")
    figures.record(
        "malformed requests, headers and queries answered other than cleanly",
        f"{len(unclean)} of {count}",
        "0",
        not unclean,
    )
    assert not unclean, "\n".join(unclean)


def _raw_url(route: Route, values: dict[str, object]) -> str:
    """The route's URL with already percent-encoded arguments put in as they are."""
    url = route.rule
    for name, converter in route.arguments:
        url = url.replace(f"<{converter}:{name}>" if converter else f"<{name}>", str(values[name]))
    return url


def test_hostile_file_names_are_refused_cleanly_and_touch_nothing_outside(hostile_stack, figures):
    stack = hostile_stack
    ida = stack.person("ida")
    assert ida.call("post", "/api/files/home/upload", files=[("files", ("mine.txt", b"ida's"))]).status_code == 201
    home = stack.home_of(ida)
    volume = sorted(entry.name for entry in home.parent.iterdir())  # the home is its _data folder
    anna_before = stack.state_of(stack.anna.person)
    unclean, count = [], 0
    for name in NAMES:
        attempts = [
            ("get", "/api/files/home/list", {"params": {"path": name}}),
            ("get", "/api/files/home/download", {"params": {"path": name}}),
            ("post", "/api/files/home/folder", {"json": {"path": name}}),
            ("post", "/api/files/home/rename", {"json": {"path": "mine.txt", "name": name}}),
            ("post", "/api/files/home/rename", {"json": {"path": name, "name": "x"}}),
            ("post", "/api/files/home/move", {"json": {"path": "mine.txt", "to": name}}),
            ("post", "/api/files/home/delete", {"json": {"path": name}}),
            ("post", "/api/files/home/upload", {"params": {"path": name}, "files": [("files", ("u.txt", b"u"))]}),
            ("post", "/api/files/home/upload", {"files": [("files", (name, b"u"))]}),
        ]
        for method, url, options in attempts:
            count += 1
            try:
                answer = ida.call(method, url, stream=True, **options)
            except (UnicodeEncodeError, ValueError):  # the client cannot even send it (a lone surrogate)
                continue
            if why := clean(answer, read(answer)):
                unclean.append(f"{method} {url} {name!r}: {why}")
        for entry in ida.call("get", "/api/files/home/list").json()["entries"]:  # harmless names went through
            assert ida.call("post", "/api/files/home/delete", json={"path": entry["name"]}).ok
        assert ida.call("post", "/api/files/home/upload", files=[("files", ("mine.txt", b"ida's"))]).ok
    if sorted(entry.name for entry in home.parent.iterdir()) != volume:
        unclean.append(f"something was made next to the home in {home.parent}")
    if stack.state_of(stack.anna.person) != anna_before:
        unclean.append("anna's things changed")
    figures.record(
        "hostile file names answered other than cleanly or reaching outside the home",
        f"{len(unclean)} of {count}",
        "0",
        not unclean,
    )
    assert not unclean, "\n".join(unclean)


# (what the browser sends, whether it is malformed: an `error` instruction and the end of the tunnel)
INSTRUCTIONS: dict[str, tuple[str | bytes, bool]] = {
    "length not a number": ("x.abc;", True),
    "length missing": ("abc;", True),
    "length of 13 digits": ("9999999999999.a;", True),
    "length past the end": ("5.ab;", True),
    "superscript digit as length": ("\u00b2.ab;", True),
    "Arabic-Indic digit as length": ("\u0664.size;", True),
    "element over 8 KiB": ("9000." + "a" * 9000 + ";", True),
    "200 elements": ("1.a," * 199 + "1.a;", True),
    "not UTF-8": (b"\xff\xfe4.size;", True),
    "instruction cut short": ("4.size,3.100", True),
    "wrong separator": ("4.sizeX3.100;", True),
    "negative length": ("-1.a;", True),
    "NUL in an opcode": ("4.a\x00bc;", False),
    "empty message": ("", False),
    "handshake again": ("6.select,3.vnc;", False),
}


def test_malformed_guacamole_instructions_end_the_tunnel_cleanly(hostile_stack, figures):
    stack, anna = hostile_stack, hostile_stack.anna.person
    unclean = []
    for name, (message, malformed) in INSTRUCTIONS.items():
        viewer = stack.viewer(stack.tunnel_token(anna))
        assert viewer.drawn(), name
        if isinstance(message, bytes):
            viewer.ws.send_binary(message)
        else:
            viewer.ws.send(message)
        seen = viewer.until("never", timeout=3 if not malformed else 10)
        errors = [args for opcode, args in seen if opcode == "error"]
        if malformed and errors != [["Malformed instruction.", str(CLIENT_BAD_REQUEST)]]:
            unclean.append(f"{name}: {errors or 'no error instruction'}")
        if not malformed and errors:
            unclean.append(f"{name}: {errors}")
        viewer.close()

    # A message over the WebSocket limit (64 KiB) ends the connection at the WebSocket level.
    viewer = stack.viewer(stack.tunnel_token(anna))
    assert viewer.drawn()
    viewer.ws.send(encode("nop") * 20_000)
    deadline, ended = time.monotonic() + 10, False
    while not ended and time.monotonic() < deadline:
        try:
            ended = not viewer.ws.recv()  # '' once the broker closed it
        except (websocket.WebSocketException, ConnectionError):
            ended = True
    if not ended:
        unclean.append("a message over 64 KiB did not end the tunnel")
    assert stack.viewer(stack.tunnel_token(anna)).drawn(), "the broker does not open tunnels any more"
    figures.record(
        "malformed Guacamole instructions not refused with an error instruction",
        f"{len(unclean)} of {len(INSTRUCTIONS) + 1}",
        "0",
        not unclean,
    )
    assert not unclean, "\n".join(unclean)


def test_a_plain_request_to_the_tunnel_is_refused(hostile_stack):
    answer = requests.get(hostile_stack.url + "/tunnel?token=" + quote("x" * 40), timeout=30)
    assert 400 <= answer.status_code < 500 and "Traceback" not in answer.text
