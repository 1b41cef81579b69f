"""websockify with deskbroker's plugins: a broker-signed token opens the desktop it names,
once, from the broker's own pages; every other token and page is refused; no token ever
reaches the log."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import pytest
import websocket

from broker.rfb import RFBClient
from broker.tunnels.vnc_token import sign
from tests.tier.containers import (
    SITE,
    VNC_PORT,
    WEBSOCKIFY_PORT,
    Desktop,
    Service,
    WebSocketStream,
    logs,
    run_healthcheck,
    stop_cleanly,
    wait_for_log,
)

DRAWN = 0.01  # share of pixels that counts as a drawn desktop
DRAW_TIMEOUT = 30.0


def open_websocket(websockify: Service, token: str, origin: str | None = SITE) -> websocket.WebSocket:
    """As the broker's noVNC viewer would: the browser sends the page's origin."""
    return websocket.create_connection(
        f"ws://{websockify.address}:{WEBSOCKIFY_PORT}/websockify?token={token}",
        subprotocols=["binary"],
        timeout=10,
        origin=origin,
        suppress_origin=origin is None,
    )


@pytest.fixture
def sign_for(websockify_key: bytes, desktop: Desktop) -> Callable[..., str]:
    """Sign a token for the test desktop, by default as the broker would."""

    def sign_token(key: bytes = websockify_key, port: int = VNC_PORT, **options) -> str:
        return sign(key, desktop.name, port, **options)

    return sign_token


def assert_no_token_logged(websockify: Service, *tokens: str) -> None:
    log = logs(websockify.container)
    for token in tokens:
        assert token not in log
        assert token.split(".")[-1] not in log  # not even the signature


def test_signed_token_reaches_the_desktop_and_vnc_login_works(websockify: Service, desktop: Desktop, sign_for) -> None:
    token = sign_for()
    logged = len(logs(websockify.container))
    started = time.monotonic()
    connection = open_websocket(websockify, token)
    greeting = connection.recv()
    print(f"\nwebsockify connect -> RFB greeting: {time.monotonic() - started:.3f} s")
    assert connection.subprotocol == "binary"
    assert greeting == b"RFB 003.008\n"
    stream = WebSocketStream(connection, already_read=greeting)
    with RFBClient.over(stream, desktop.password) as session:
        deadline = time.monotonic() + DRAW_TIMEOUT
        while (drawn := session.framebuffer().drawn_fraction()) < DRAWN:
            assert time.monotonic() < deadline, f"desktop not drawn ({drawn:.2%})"
            time.sleep(0.5)
    output = wait_for_log(websockify.container, f"accepted for {desktop.name}:{VNC_PORT}", since=logged)
    assert "Path: '/websockify?token=[redacted]'" in output[logged:]
    assert_no_token_logged(websockify, token)


def test_a_token_works_once(websockify: Service, sign_for) -> None:
    token = sign_for()
    open_websocket(websockify, token).close()
    logged = len(logs(websockify.container))
    with pytest.raises((websocket.WebSocketException, OSError)):
        open_websocket(websockify, token)
    wait_for_log(websockify.container, "refused: already used", since=logged)
    assert_no_token_logged(websockify, token)


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda sign: sign(now=time.time() - 120), "token expired"),
        (lambda sign: sign(key=secrets.token_bytes(32)), "signature does not match"),
        (lambda sign: sign(port=22), "port 22 is not the desktops' VNC port"),
        (lambda sign: sign(ttl=600), "token would live 600 s; at most 60 s"),
        (lambda sign: sign(audience="guacamole"), "is for 'guacamole', not 'websockify'"),
        (lambda sign: "garbage-" + secrets.token_hex(8), "not a deskbroker VNC token"),
    ],
    ids=["expired", "other-key", "other-port", "too-long", "other-audience", "garbage"],
)
def test_refused(websockify: Service, sign_for, make_token, reason: str) -> None:
    token = make_token(sign_for)
    logged = len(logs(websockify.container))
    with pytest.raises((websocket.WebSocketException, OSError)):
        open_websocket(websockify, token)
    wait_for_log(websockify.container, reason, since=logged)
    assert_no_token_logged(websockify, token)


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("https://elsewhere.example", "its Origin 'https://elsewhere.example' is not this server's address"),
        ("https://desk.school.example:8443", "its Origin 'https://desk.school.example:8443' is not"),
        ("null", "its Origin 'null' is not a web address"),
        (None, "the request has no Origin header"),
    ],
    ids=["foreign-site", "other-port", "null", "none"],
)
def test_a_page_of_another_origin_is_refused_even_with_a_good_token(
    websockify: Service, sign_for, origin: str | None, reason: str
) -> None:
    logged = len(logs(websockify.container))
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_websocket(websockify, sign_for(), origin=origin)
    assert refused.value.status_code == 403
    wait_for_log(websockify.container, f"connection refused: {reason}", since=logged)


def test_the_origin_is_compared_as_browsers_write_it(websockify: Service, sign_for) -> None:
    """Scheme and host in any case, the default port spelt out: the same page."""
    connection = open_websocket(websockify, sign_for(), origin="HTTPS://Desk.School.Example:443")
    assert connection.recv() == b"RFB 003.008\n"
    connection.close()


def test_no_token_at_all_is_refused(websockify: Service) -> None:
    logged = len(logs(websockify.container))
    with pytest.raises((websocket.WebSocketException, OSError)):
        websocket.create_connection(f"ws://{websockify.address}:{WEBSOCKIFY_PORT}/websockify", timeout=10)
    wait_for_log(websockify.container, "Token not present", since=logged)


def test_healthcheck_is_quiet_and_stop_is_clean(start, websockify: Service) -> None:
    before = logs(websockify.container)
    run_healthcheck(websockify.container)
    time.sleep(0.2)
    assert logs(websockify.container) == before
    spare = start(
        "deskbroker/websockify:latest",
        "websockify-stop",
        environment={"VNC_TOKEN_KEY": "k" * 32, "ALLOWED_ORIGINS": SITE},
    )
    assert spare.container.attrs["Config"]["User"] == "websockify"
    time.sleep(1)
    print(f"\nwebsockify docker stop: {stop_cleanly(spare.container):.2f} s")


@pytest.mark.parametrize(
    ("role", "options", "message"),
    [
        ("no-key", {}, "VNC_TOKEN_KEY_FILE or VNC_TOKEN_KEY must hold"),
        (
            "no-origins",
            {"environment": {"VNC_TOKEN_KEY": "k" * 32}},
            "ALLOWED_ORIGINS must name the broker's public URL",
        ),
        (
            "no-tmpfs",
            {"environment": {"VNC_TOKEN_KEY": "k" * 32, "ALLOWED_ORIGINS": SITE}, "read_only": True},
            "websockify: [Errno 30] Read-only file system: '/tmp/used-vnc-tokens'",
        ),
    ],
)
def test_bad_settings_stop_it_with_a_clear_message(start, role: str, options: dict, message: str) -> None:
    broken = start("deskbroker/websockify:latest", f"websockify-{role}", **options)
    assert broken.container.wait(timeout=30)["StatusCode"] == 1
    assert message in logs(broken.container)
    assert "Traceback" not in logs(broken.container)
