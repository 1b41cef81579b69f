"""The classroom end to end in headless Chromium: `broker serve` with guacd and a real xfce desktop
of a student on Docker. The teacher's classroom shows a drawn picture of the student's screen;
a click joins it view only and the view is drawn; the student's viewer says a teacher is
watching, as long as the teacher is. Screenshots: tests/artifacts/test_classroom_*.png."""

from __future__ import annotations

import re
import secrets
import time

import pytest
import requests
from playwright.sync_api import Page, expect

from broker.desktops import make_provider
from broker.models import Group
from broker.tunnels.service import WATCHED_SECONDS
from tests.fixtures.broker import make_settings, start_live_broker
from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.fixtures.desktops import desktop_overrides, remove_everything_of, run_guacd
from tests.fixtures.pages import PASSWORD, add_group, create_local_account, sign_in_page
from tests.viewer.test_viewer_end_to_end import DRAWN_COLOURS

pytestmark = pytest.mark.usefixtures("built_viewer")

# Distinct colours among sampled pixels of a screen's picture in the classroom.
PICTURE_COLOURS = """([id, minimum]) => {
  const picture = document.querySelector(`.screen[data-desktop-id="${id}"] img`);
  if (!picture || !picture.complete || !picture.naturalWidth) return false;
  const canvas = document.createElement('canvas');
  canvas.width = picture.naturalWidth;
  canvas.height = picture.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(picture, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4 * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return colours.size >= minimum;
}"""


@pytest.fixture(scope="module")
def classroom_broker(tmp_path_factory, docker_engine, desktop_images):
    """`broker serve` (SQLite) with guacd on the desktop network; tess teaches 5a, where sam is a student."""
    instance = "t" + secrets.token_hex(4)
    overrides = desktop_overrides(instance)
    make_provider(make_settings(**overrides)).ensure_network()
    try:
        with run_guacd(docker_engine, instance, overrides["desktop_network"]) as (_guacd, guacd_ip):
            folder = tmp_path_factory.mktemp("classroom")
            broker = start_live_broker(folder, f"sqlite:///{folder / 'broker.db'}", guacd_host=guacd_ip, **overrides)
            try:
                create_local_account(broker, "tess", "teacher")
                create_local_account(broker, "sam")
                add_group(broker, "5a", "Klasse 5a", ["tess", "sam"])
                yield broker
            finally:
                broker.stop()
    finally:
        remove_everything_of(docker_engine, instance)


def start_desktop(broker, username: str) -> dict:
    """The person's xfce desktop, started through the API (once the catalog has it)."""
    client = requests.Session()
    token = client.post(
        broker.url + "/api/auth/local/login", timeout=10, json={"username": username, "password": PASSWORD}
    ).json()["session_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + 30
    while not any(
        kind["id"] == "xfce"
        for kind in client.get(broker.url + "/api/container/list", timeout=10).json()["desktop_types"]
    ):
        assert time.monotonic() < deadline, "the catalog has no xfce desktop"
        time.sleep(0.3)
    desktop = client.post(broker.url + "/api/container/start?desktop_type=xfce", timeout=60).json()
    assert desktop["state"] == "running", desktop
    return desktop


def open_drawn_viewer(page: Page, broker, desktop: dict, mode: str = "control") -> None:
    page.goto(f"{broker.url}/desktops/{desktop['id']}/view?mode={mode}")
    # Within a minute: a guacd 1.3 handshake that hangs costs the viewer one try again (10 s and a backoff).
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=60_000)
    page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)


def test_the_teacher_sees_the_students_screen_joins_it_and_the_student_sees_that(classroom_broker, browser, watched):
    broker, teacher = classroom_broker, watched.page
    desktop = start_desktop(broker, "sam")
    student_context = browser.new_context(viewport=VIEWPORT)
    try:
        student = student_context.new_page()
        sign_in_page(student, broker, "sam")
        open_drawn_viewer(student, broker, desktop)
        badge = student.locator("#watched-badge")
        expect(badge).to_be_hidden()

        sign_in_page(teacher, broker, "tess")
        teacher.goto(broker.url + "/classroom")
        expect(teacher.locator("#group-select")).to_have_value(str(_group_id(broker)))
        screen = teacher.locator(f'.screen[data-desktop-id="{desktop["id"]}"]')
        expect(screen).to_have_attribute("data-state", "drawn", timeout=20_000)
        expect(screen.locator(".screen-name")).to_have_text("sam")
        expect(teacher.locator(".screen")).to_have_count(1)  # the teacher's own desktops are not shown
        teacher.wait_for_function(PICTURE_COLOURS, arg=[desktop["id"], 20], timeout=10_000)
        expect(badge).to_be_visible(timeout=10_000)
        expect(badge).to_have_text("A teacher is watching your screen")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        teacher.screenshot(path=str(ARTIFACTS / "test_classroom_teacher.png"), full_page=True)
        student.screenshot(path=str(ARTIFACTS / "test_classroom_student_watched.png"))

        screen.locator("a.screen-link").click()
        expect(teacher).to_have_url(f"{broker.url}/desktops/{desktop['id']}/view?mode=view")
        expect(teacher.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
        teacher.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
        expect(teacher.locator("#view-only-badge")).to_be_visible()
        expect(teacher.locator("#watched-badge")).to_be_hidden()  # that notice is for the student
        teacher.screenshot(path=str(ARTIFACTS / "test_classroom_teacher_watching.png"))

        # No more pictures now (the classroom is left), yet the view-only connection keeps the notice up.
        time.sleep(WATCHED_SECONDS + 3)
        expect(badge).to_be_visible()
        teacher.goto(broker.url + "/")  # the teacher leaves: the notice goes within seconds
        expect(badge).to_be_hidden(timeout=(WATCHED_SECONDS + 10) * 1000)
        expect(student.locator("#viewer")).to_have_attribute("data-state", "connected")
    finally:
        student_context.close()
    assert watched.problems() == []


def test_a_screen_that_stops_answering_keeps_its_last_picture_marked_with_its_age(
    classroom_broker, docker_engine, page
):
    broker, teacher = classroom_broker, page
    desktop = start_desktop(broker, "sam")
    sign_in_page(teacher, broker, "tess")
    teacher.goto(broker.url + "/classroom")
    screen = teacher.locator(f'.screen[data-desktop-id="{desktop["id"]}"]')
    expect(screen).to_have_attribute("data-state", "drawn", timeout=20_000)
    teacher.wait_for_function(PICTURE_COLOURS, arg=[desktop["id"], 20], timeout=30_000)  # XFCE drawn in it
    expect(screen.locator(".thumb-stale")).to_be_hidden()
    container = docker_engine.containers.get(desktop["container_id"])
    container.pause()  # its VNC server answers nothing now: each grab times out after 5 s
    try:
        expect(screen).to_have_attribute("data-state", "stale", timeout=30_000)
        expect(screen.locator(".thumb-stale")).to_have_text(
            re.compile(r"^Picture from \d+ s ago: the screen is not answering$")
        )
        teacher.wait_for_function(PICTURE_COLOURS, arg=[desktop["id"], 20])  # the last picture stays
        teacher.screenshot(path=str(ARTIFACTS / "test_classroom_stale_picture.png"), full_page=True)
        # Once the last picture is older than 20 s, the card says there is none.
        expect(screen).to_have_attribute("data-state", "failed", timeout=40_000)
        expect(screen.locator(".thumb-missing")).to_be_visible()
    finally:
        container.unpause()
    expect(screen).to_have_attribute("data-state", "drawn", timeout=30_000)
    expect(screen.locator(".thumb-stale")).to_be_hidden()


def _group_id(broker) -> int:
    with broker.session() as db:
        return db.query(Group.id).filter(Group.key == "5a").scalar()
