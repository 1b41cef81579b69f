"""The RFB client against a tiny fake VNC server on loopback (one thread per test)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from broker.rfb import (
    AuthenticationFailed,
    Framebuffer,
    RFBClient,
    RFBConnectionError,
    vnc_auth_response,
    wait_for_greeting,
)

# Known answer from TigerVNC: `printf 'secret12\n' | vncpasswd -f` encrypts "secret12" with
# the fixed key below, which is exactly the VNC authentication computation.
VNCPASSWD_KEY = bytes([23, 82, 107, 6, 35, 78, 88, 7]).decode()
VNCPASSWD_SECRET12 = bytes.fromhex("24b5ae4ce15503c6")

CHALLENGE = b"secret12" * 2
WIDTH, HEIGHT = 4, 2
RED, BLUE = b"\x00\x00\xff\x00", b"\xff\x00\x00\x00"


def recv_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        assert chunk, "client closed early"
        data += chunk
    return data


def string(text: str) -> bytes:
    return struct.pack(">I", len(text)) + text.encode()


def vnc_server(conn: socket.socket) -> None:
    """RFB 3.8 with VNC auth; the password is VNCPASSWD_KEY; answers one screen request."""
    conn.sendall(b"RFB 003.008\n")
    assert recv_exact(conn, 12) == b"RFB 003.008\n"
    conn.sendall(bytes([1, 2]))  # one security type: VNC authentication
    assert recv_exact(conn, 1) == b"\x02"
    conn.sendall(CHALLENGE)
    if recv_exact(conn, 16) != VNCPASSWD_SECRET12 * 2:
        conn.sendall(struct.pack(">I", 1) + string("Authentication failure"))
        return
    conn.sendall(struct.pack(">I", 0))
    assert recv_exact(conn, 1) == b"\x01"  # shared
    conn.sendall(struct.pack(">HH16x", WIDTH, HEIGHT) + string("fake desktop"))
    recv_exact(conn, 20)  # SetPixelFormat
    (count,) = struct.unpack(">xxH", recv_exact(conn, 4))
    recv_exact(conn, 4 * count)  # SetEncodings
    assert recv_exact(conn, 10)[:2] == b"\x03\x00"  # full FramebufferUpdateRequest
    top_row, bottom_row = RED * WIDTH, RED * 3 + BLUE
    conn.sendall(
        b"\x02"  # a Bell first, which the client must skip
        + struct.pack(">BxH", 0, 2)
        + struct.pack(">HHHHi", 0, 0, WIDTH, 1, 0)
        + top_row
        + struct.pack(">HHHHi", 0, 1, WIDTH, 1, 0)
        + bottom_row
    )


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """Start a one-connection server running `handler`; return its port."""
    threads = []

    def start(handler: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))

        def run() -> None:
            with listener, listener.accept()[0] as conn:
                handler(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return listener.getsockname()[1]

    yield start
    for thread in threads:
        thread.join(timeout=5)


def test_auth_response_matches_tigervnc() -> None:
    assert vnc_auth_response(VNCPASSWD_KEY, b"secret12" * 2) == VNCPASSWD_SECRET12 * 2


def test_auth_response_uses_only_eight_bytes_of_the_password() -> None:
    assert vnc_auth_response("abcdefgh", CHALLENGE) == vnc_auth_response("abcdefghXYZ", CHALLENGE)


def test_login_and_framebuffer(serve) -> None:
    port = serve(vnc_server)
    with RFBClient("127.0.0.1", port, VNCPASSWD_KEY) as client:
        assert (client.name, client.width, client.height) == ("fake desktop", WIDTH, HEIGHT)
        screen = client.framebuffer()
    assert screen.pixels == RED * 7 + BLUE
    assert screen.drawn_fraction() == pytest.approx(1 / 8)


def test_wrong_password_is_refused_with_the_servers_reason(serve) -> None:
    port = serve(vnc_server)
    with pytest.raises(AuthenticationFailed, match="Authentication failure"):
        RFBClient("127.0.0.1", port, "wrong")


def test_wait_for_greeting_returns_the_version(serve) -> None:
    port = serve(lambda conn: conn.sendall(b"RFB 003.008\n"))
    assert wait_for_greeting("127.0.0.1", port, timeout=5) == "003.008"


def test_wait_for_greeting_times_out_when_nothing_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(RFBConnectionError, match=r"no RFB greeting .* within 0.3 s"):
        wait_for_greeting("127.0.0.1", port, timeout=0.3)


def test_a_server_that_is_not_rfb_is_a_connection_error(serve) -> None:
    port = serve(lambda conn: conn.sendall(b"HTTP/1.1 400\r\n"))
    with pytest.raises(RFBConnectionError, match="not an RFB server"):
        RFBClient("127.0.0.1", port, "secret")


def test_connection_refused_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(RFBConnectionError, match="cannot connect"):
        RFBClient("127.0.0.1", port, "secret")


def test_blank_screen_has_nothing_drawn() -> None:
    assert Framebuffer(2, 2, BLUE * 4).drawn_fraction() == 0.0
