"""Classroom pictures against the tiny fake VNC server of test_rfb: the screen as a PNG, and many
requests at once costing the desktop one grab every few seconds."""

from __future__ import annotations

import io
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from broker import crypto
from broker.models import Desktop, DesktopType
from broker.teacher.thumbnails import KEEP_SECONDS, Thumbnails, grab
from tests.app.test_rfb import VNCPASSWD_KEY, vnc_server

SECRET = "a secret key for the thumbnail tests"


def counting_server() -> tuple[int, list[int], socket.socket]:
    """A fake VNC server for any number of connections: (port, connections so far, listener)."""
    listener = socket.create_server(("127.0.0.1", 0))
    served = [0]

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            served[0] += 1
            with conn:
                vnc_server(conn)

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], served, listener


def test_a_grab_is_the_screen_as_png():
    port, _served, listener = counting_server()
    with listener:
        picture = Image.open(io.BytesIO(grab("127.0.0.1", port, VNCPASSWD_KEY)))
    assert picture.format == "PNG" and picture.size == (4, 2)  # never enlarged
    assert picture.getpixel((0, 0)) == (255, 0, 0) and picture.getpixel((3, 1)) == (0, 0, 255)


def test_many_requests_for_one_desktop_cost_it_one_grab_every_few_seconds():
    port, served, listener = counting_server()
    now = [100.0]
    thumbnails = Thumbnails(SECRET, clock=lambda: now[0])
    desktop = Desktop(
        id="d1",
        address="127.0.0.1",
        vnc_password_encrypted=crypto.encrypt(SECRET, VNCPASSWD_KEY),
        desktop_type=DesktopType(id="base", vnc_port=port),
    )
    with listener, ThreadPoolExecutor(8) as pool:
        pictures = list(pool.map(lambda _: thumbnails.picture(desktop), range(8)))
        assert served[0] == 1 and len(set(pictures)) == 1
        now[0] += KEEP_SECONDS - 0.1
        thumbnails.picture(desktop)
        assert served[0] == 1
        now[0] += 0.2
        thumbnails.picture(desktop)
        assert served[0] == 2
