"""The RFB client against hostile VNC servers (a desktop image may run any): each written here as a
small socket server in a thread. Screens, texts, rectangles and clipboards beyond any desktop's needs
and bytes that come too slowly or never end are refused quickly, with an error that says what, and
with the memory a grab holds bounded (measured with tracemalloc); a big but allowed screen is shrunk to
its thumbnail band by band."""

from __future__ import annotations

import io
import socket
import struct
import time
import tracemalloc
from collections.abc import Callable

import pytest
from PIL import Image

from broker.rfb import MAX_CUT_TEXT, RFBClient, RFBConnectionError, RFBError, RFBLimitError
from broker.teacher.thumbnails import grab
from tests.app.test_rfb import CHALLENGE, VNCPASSWD_KEY, recv_exact, serve  # noqa: F401 - the fixture

MIB = 1 << 20
PIECE = b"c" * MIB  # made before any measurement: tracemalloc counts the servers' threads too


def login(
    conn: socket.socket,
    width: int,
    height: int,
    name: bytes = b"hostile",
    name_length: int | None = None,
    drip: float = 0.0,
) -> None:
    """RFB 3.8, VNC authentication (any answer is taken), ServerInit announcing width x height and the name
    (`name_length` may lie about it; `drip`: seconds between the name's bytes)."""
    conn.sendall(b"RFB 003.008\n")
    recv_exact(conn, 12)
    conn.sendall(bytes([1, 2]))
    recv_exact(conn, 1)
    conn.sendall(CHALLENGE)
    recv_exact(conn, 16)
    conn.sendall(struct.pack(">I", 0))
    recv_exact(conn, 1)  # ClientInit
    conn.sendall(
        struct.pack(">HH16x", width, height) + struct.pack(">I", len(name) if name_length is None else name_length)
    )
    for byte in name:
        conn.sendall(bytes([byte]))
        time.sleep(drip)


def after_login(conn: socket.socket) -> None:
    """What the client sends before its first screen request: SetPixelFormat, SetEncodings, the request."""
    recv_exact(conn, 20)
    (count,) = struct.unpack(">xxH", recv_exact(conn, 4))
    recv_exact(conn, 4 * count)
    recv_exact(conn, 10)


def until_closed(conn: socket.socket) -> None:
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def refused(port: int, timeout: float = 2.0, grab_screen: bool = False) -> tuple[RFBError, float, int]:
    """Log in (and grab the screen): the error, the seconds it took, the peak of memory allocated meanwhile."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with RFBClient("127.0.0.1", port, VNCPASSWD_KEY, timeout=timeout) as client:
            if grab_screen:
                client.framebuffer()
    except RFBError as error:
        return error, time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError("the hostile server was not refused")


def hostile(handler: Callable[[socket.socket], None]) -> Callable[[socket.socket], None]:
    def run(conn: socket.socket) -> None:
        try:
            handler(conn)
        except OSError:  # the client gave up on it, as it should
            pass

    return run


def test_a_screen_of_65535_x_65535_is_refused_before_anything_is_allocated(serve):  # noqa: F811
    port = serve(hostile(lambda conn: (login(conn, 65535, 65535), until_closed(conn))))
    error, seconds, peak = refused(port)
    assert isinstance(error, RFBLimitError) and "65535x65535 screen (at most 8192x8192)" in str(error)
    assert seconds < 1 and peak < MIB  # the copy would be 16 GiB


@pytest.mark.parametrize("width, height", [(8193, 600), (800, 0)])
def test_screens_just_beyond_the_bounds_or_empty_are_refused(serve, width, height):  # noqa: F811
    port = serve(hostile(lambda conn: (login(conn, width, height), until_closed(conn))))
    assert f"{width}x{height} screen" in str(refused(port)[0])


def test_a_desktop_name_of_4_gib_is_refused_without_reading_it(serve):  # noqa: F811
    port = serve(
        hostile(lambda conn: (login(conn, 800, 600, name=b"x" * 100, name_length=2**32 - 1), until_closed(conn)))
    )
    error, seconds, peak = refused(port)
    assert isinstance(error, RFBLimitError) and "text (name or reason) of 4294967295 bytes" in str(error)
    assert seconds < 1 and peak < MIB


def test_a_refusal_with_a_reason_of_2_gib_is_refused_too(serve):  # noqa: F811
    def server(conn: socket.socket) -> None:
        conn.sendall(b"RFB 003.008\n")
        recv_exact(conn, 12)
        conn.sendall(b"\x00" + struct.pack(">I", 2**31))  # no security types, and why: 2 GiB of text
        until_closed(conn)

    error, seconds, peak = refused(serve(hostile(server)))
    assert isinstance(error, RFBLimitError) and seconds < 1 and peak < MIB


def test_bytes_that_come_ever_so_slowly_end_at_the_deadline(serve):  # noqa: F811
    # Each byte in time for a per-read timeout, the whole never: the name's 4000 bytes, one every 20 ms.
    port = serve(hostile(lambda conn: login(conn, 800, 600, name=b"x" * 4000, drip=0.02)))
    error, seconds, _peak = refused(port, timeout=1.0)
    assert isinstance(error, RFBConnectionError) and "did not answer within 1 s" in str(error)
    assert 0.9 < seconds < 1.5


def test_endless_messages_instead_of_the_screen_end_at_the_deadline(serve):  # noqa: F811
    def server(conn: socket.socket) -> None:
        login(conn, 800, 600)
        after_login(conn)
        while True:  # bells and empty updates, never a pixel
            conn.sendall(b"\x02" + struct.pack(">BxH", 0, 0))
            time.sleep(0.001)

    error, seconds, peak = refused(serve(hostile(server)), timeout=1.0, grab_screen=True)
    assert isinstance(error, RFBConnectionError) and "within 1 s" in str(error)
    assert seconds < 1.5 and peak < 4 * MIB


def test_clipboard_text_over_16_mib_is_refused_and_below_it_is_dropped_in_pieces(serve):  # noqa: F811
    def server(conn: socket.socket, length: int, send: int) -> None:
        login(conn, 4, 2)
        after_login(conn)
        conn.sendall(b"\x03" + struct.pack(">3xI", length))
        for _ in range(send // MIB):
            conn.sendall(PIECE)
        conn.sendall(struct.pack(">xxH", 1) + struct.pack(">HHHHi", 0, 0, 4, 2, 0) + b"\x00" * 32)
        until_closed(conn)

    error, seconds, peak = refused(serve(hostile(lambda conn: server(conn, 2**32 - 1, 0))), grab_screen=True)
    assert (
        isinstance(error, RFBLimitError)
        and f"clipboard text of 4294967295 bytes (at most {MAX_CUT_TEXT})" in str(error)
        and seconds < 1
        and peak < MIB
    )

    port = serve(hostile(lambda conn: server(conn, 8 * MIB, 8 * MIB)))
    tracemalloc.start()
    with RFBClient("127.0.0.1", port, VNCPASSWD_KEY, timeout=10) as client:
        assert client.framebuffer().pixels == b"\x00" * 32
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * MIB  # 8 MiB of clipboard went by


@pytest.mark.parametrize("rectangle", [(0, 0, 801, 1), (799, 599, 2, 1), (0, 600, 1, 1), (65535, 65535, 65535, 65535)])
def test_a_rectangle_outside_the_screen_is_refused(serve, rectangle):  # noqa: F811
    def server(conn: socket.socket) -> None:
        login(conn, 800, 600)
        after_login(conn)
        conn.sendall(struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", *rectangle, 0))
        until_closed(conn)

    error, seconds, peak = refused(serve(hostile(server)), grab_screen=True)
    assert isinstance(error, RFBLimitError) and "outside its 800x600 screen" in str(error)
    assert seconds < 1 and peak < 4 * MIB


def test_a_resize_to_65535_x_65535_is_refused(serve):  # noqa: F811
    def server(conn: socket.socket) -> None:
        login(conn, 800, 600)
        after_login(conn)
        report = struct.pack(">HHHHi", 0, 0, 65535, 65535, -308) + struct.pack(">B3x", 1) + b"\x00" * 16
        conn.sendall(struct.pack(">BxH", 0, 1) + report)
        until_closed(conn)

    error, seconds, peak = refused(serve(hostile(server)), grab_screen=True)
    assert isinstance(error, RFBLimitError) and "65535x65535 screen" in str(error) and seconds < 1 and peak < 4 * MIB


def test_a_big_screen_becomes_a_thumbnail_without_ever_being_held_whole(serve):  # noqa: F811
    width, height = 8192, 4096  # allowed; the whole screen would be 128 MiB
    rows = 64
    white, black = b"\xff" * (width * 4 * rows), b"\x00" * (width * 4 * rows)  # 2 MiB each, made beforehand

    def server(conn: socket.socket) -> None:
        login(conn, width, height)
        after_login(conn)
        conn.sendall(struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, width, height, 0))
        for band in range(height // rows):  # the top half white, the bottom half black
            conn.sendall(white if band < height // rows // 2 else black)
        until_closed(conn)

    port = serve(hostile(server))
    tracemalloc.start()
    started = time.monotonic()
    png = grab("127.0.0.1", port, VNCPASSWD_KEY)
    seconds, peak = time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    picture = Image.open(io.BytesIO(png))
    assert picture.size == (400, 200)
    assert picture.getpixel((200, 50)) == (255, 255, 255) and picture.getpixel((200, 150)) == (0, 0, 0)
    assert peak < 12 * MIB, f"{peak / MIB:.1f} MiB"
    assert seconds < 5
    print(f"8192x4096 screen to a thumbnail: {seconds:.2f} s, peak {peak / MIB:.1f} MiB allocated")


def test_a_thumbnail_grab_ends_after_5_s_in_all_however_the_time_is_spread(serve):  # noqa: F811
    def server(conn: socket.socket) -> None:
        login(conn, 800, 600, name=b"x" * 60, drip=0.05)  # 3 s to log in, within the 5 s
        after_login(conn)
        conn.sendall(struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, 800, 600, 0))
        while True:  # then the pixels, a row every 50 ms: 30 s for the screen
            conn.sendall(b"\x00" * 3200)
            time.sleep(0.05)

    port = serve(hostile(server))
    started = time.monotonic()
    with pytest.raises(RFBConnectionError, match="did not answer within"):
        grab("127.0.0.1", port, VNCPASSWD_KEY)
    assert 4.9 < time.monotonic() - started < 5.5
