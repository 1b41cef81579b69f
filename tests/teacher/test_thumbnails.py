"""Classroom pictures against the tiny fake VNC server of test_rfb: the screen as a PNG, and many
requests at once, from several broker processes, costing the desktop one grab every few seconds."""

from __future__ import annotations

import io
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from PIL import Image

from broker import crypto
from broker.db import utcnow
from broker.models import Desktop, DesktopType
from broker.rfb import RFBError
from broker.teacher.thumbnails import KEEP_SECONDS, STALE_SECONDS, Thumbnails, grab
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


def add_desktop(db, port: int) -> Desktop:
    db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis", vnc_port=port))
    db.add(
        Desktop(
            id="d1",
            desktop_type_id="base",
            state="running",
            address="127.0.0.1",
            vnc_password_encrypted=crypto.encrypt(SECRET, VNCPASSWD_KEY),
        )
    )
    db.commit()
    return db.get(Desktop, "d1")


def test_many_requests_in_several_broker_processes_cost_a_desktop_one_grab_every_few_seconds(app, db):
    """Two Thumbnails stand for two broker processes: they share the database, not their memory."""
    port, served, listener = counting_server()
    now = [utcnow()]
    desktop = add_desktop(db, port)
    sessions = app.extensions["deskbroker"].sessions
    processes = [Thumbnails(SECRET, sessions, now=lambda: now[0]) for _ in range(2)]
    with listener, ThreadPoolExecutor(8) as pool:
        pictures = list(pool.map(lambda i: processes[i % 2].picture(desktop), range(8)))
        assert served[0] == 1 and len({picture.png for picture in pictures}) == 1
        assert len({picture.etag for picture in pictures}) == 1
        now[0] += timedelta(seconds=KEEP_SECONDS - 0.1)
        processes[1].picture(desktop)
        assert served[0] == 1
        now[0] += timedelta(seconds=0.2)
        again = [processes[i % 2].picture(desktop) for i in range(4)]
        assert served[0] == 2
        assert again[0].etag == pictures[0].etag  # the same screen: a wall that has it gets 304


def test_a_failed_grab_keeps_the_last_picture_on_the_wall_while_it_is_young(app, db):
    port, served, listener = counting_server()
    now = [utcnow()]
    desktop = add_desktop(db, port)
    thumbnails = Thumbnails(SECRET, app.extensions["deskbroker"].sessions, now=lambda: now[0])
    with listener:
        first = thumbnails.picture(desktop)
    assert served[0] == 1
    with socket.create_server(("127.0.0.1", 0)) as gone:
        desktop.desktop_type.vnc_port = gone.getsockname()[1]  # nothing answers there: every grab fails
    now[0] += timedelta(seconds=KEEP_SECONDS + 1)
    again = thumbnails.picture(desktop)
    assert again.png == first.png and again.taken_at == first.taken_at  # its time says how old it is
    now[0] = first.taken_at + timedelta(seconds=STALE_SECONDS + 1)
    with pytest.raises(RFBError):
        thumbnails.picture(desktop)


def test_a_failed_grab_keeps_the_picture_another_broker_process_took(app, db):
    """The wall's requests may reach any broker process: one that never had a picture still shows
    the young one another process took when its own grab fails."""
    port, served, listener = counting_server()
    now = [utcnow()]
    desktop = add_desktop(db, port)
    sessions = app.extensions["deskbroker"].sessions
    taker, other = (Thumbnails(SECRET, sessions, now=lambda: now[0]) for _ in range(2))
    with listener:
        first = taker.picture(desktop)
    assert served[0] == 1
    with socket.create_server(("127.0.0.1", 0)) as gone:
        desktop.desktop_type.vnc_port = gone.getsockname()[1]
    now[0] += timedelta(seconds=KEEP_SECONDS + 1)
    again = other.picture(desktop)
    assert again.png == first.png and again.taken_at == first.taken_at
    now[0] = first.taken_at + timedelta(seconds=STALE_SECONDS + 1)
    with pytest.raises(RFBError):
        other.picture(desktop)
