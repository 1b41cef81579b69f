"""The classroom picture of a real desktop (the base image's TigerVNC on Docker), shrunk band by band as the
screen arrives: the same picture, near enough, as the whole screen shrunk at once, and never more memory than
a few bands. (Hostile VNC servers are in tests/app/test_rfb_hostile.py.)"""

from __future__ import annotations

import io
import time
import tracemalloc

import pytest
from PIL import Image, ImageChops, ImageStat

from broker import crypto
from broker.images.smoke import DRAWN_THRESHOLD
from broker.models import Desktop
from broker.rfb import RFBClient
from broker.teacher.thumbnails import SIZE, grab
from tests.fixtures.broker import SECRET
from tests.fixtures.desktops import lifecycle_of, sign_in

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_teacher_sees_a_real_desktop_as_its_screen_shrunk(desktop_app):
    app = desktop_app()
    anna, boss = sign_in(app, "anna"), sign_in(app, "boss", ("admin",))
    started = anna.call("post", "/api/container/start?desktop_type=base")
    assert started.status_code == 200, started.get_json()
    desktop_id = started.get_json()["id"]
    with lifecycle_of(app).sessions() as db:
        desktop = db.get(Desktop, desktop_id)
        address, port = desktop.address, desktop.desktop_type.vnc_port
        password = crypto.decrypt(SECRET, desktop.vnc_password_encrypted)

    with RFBClient(address, port, password) as session:  # the whole screen, once something is drawn
        deadline = time.monotonic() + 45
        while (screen := session.framebuffer()).drawn_fraction() < DRAWN_THRESHOLD and time.monotonic() < deadline:
            time.sleep(0.5)
    assert screen.drawn_fraction() >= DRAWN_THRESHOLD
    whole = Image.frombuffer("RGB", (screen.width, screen.height), screen.pixels, "raw", "BGRX", 0, 1)
    whole.thumbnail(SIZE, Image.Resampling.BILINEAR, reducing_gap=2.0)

    answer = boss.call("get", f"/api/teacher/desktops/{desktop_id}/thumbnail")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    picture = Image.open(io.BytesIO(answer.data)).convert("RGB")
    assert picture.size == whole.size and max(picture.size) <= SIZE[0] and picture.size[1] <= SIZE[1]
    assert len(picture.getcolors(1 << 16) or range(1 << 16)) > 2  # something is drawn, not one colour
    difference = ImageStat.Stat(ImageChops.difference(picture, whole)).mean
    assert max(difference) < 8, difference  # of 255, per channel on average

    tracemalloc.start()
    grab(address, port, password)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < screen.width * screen.height * 4, (peak, screen.width, screen.height)
    print(
        f"{screen.width}x{screen.height} desktop: thumbnail {picture.size}, mean difference {difference}, "
        f"peak {peak / 2**20:.1f} MiB vs {screen.width * screen.height * 4 / 2**20:.1f} MiB for the screen"
    )
