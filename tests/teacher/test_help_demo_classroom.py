"""Help with control and demos end to end in headless Chromium: `broker serve` with guacd and real xfce
desktops on Docker, one teacher and three students, each in a browser context of their own.

Help: the teacher opens a student's desktop with control from the wall; the student's viewer says who
controls it, and one click ends it (the teacher's tunnel ends, their viewer says why); the teacher hands
back another student's. Demo: the teacher shows their own desktop; the students' viewers (and a
dashboard, opened during the demo) switch to it and draw it, all on one guacd connection; ending it
returns each to where they were. Screenshots: tests/artifacts/test_help_demo_*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from broker.models import Connection
from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.fixtures.classroom import class_broker
from tests.fixtures.pages import sign_in_page
from tests.teacher.test_classroom import open_drawn_viewer, start_desktop
from tests.viewer.test_viewer_end_to_end import DRAWN_COLOURS

pytestmark = pytest.mark.usefixtures("built_viewer")

STUDENTS = ("sam", "sue", "sid")


@pytest.fixture(scope="module")
def lesson(tmp_path_factory, docker_engine, desktop_images):
    """`broker serve` (SQLite) with guacd; tess teaches 5a: sam, sue and sid."""
    with class_broker(tmp_path_factory, docker_engine, STUDENTS) as broker:
        yield broker


@pytest.fixture
def students(browser, lesson):
    """A signed-in page for each student, in a browser context of their own."""
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in STUDENTS]
    pages = {}
    for student, context in zip(STUDENTS, contexts, strict=True):
        pages[student] = context.new_page()
        sign_in_page(pages[student], lesson, student)
    yield pages
    for context in contexts:
        context.close()


def live_connections(broker, mode: str) -> list[tuple[str, str, str]]:
    """(person, desktop, guacd's connection id) of the live tunnels of `mode`."""
    with broker.session() as db:
        tunnels = db.scalars(select(Connection).where(Connection.mode == mode, Connection.ended_at.is_(None)))
        return sorted((c.user.username, c.desktop_id, c.guacd_connection_id) for c in tunnels)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"test_help_demo_{name}.png"))


def test_help_is_shown_to_the_student_who_ends_it_and_the_teacher_hands_back(lesson, students, watched):
    broker, teacher = lesson, watched.page
    desktops = {student: start_desktop(broker, student) for student in ("sam", "sue")}
    for student, desktop in desktops.items():
        open_drawn_viewer(students[student], broker, desktop)
        expect(students[student].locator("#control-badge")).to_be_hidden()

    sign_in_page(teacher, broker, "tess")
    teacher.goto(broker.url + "/classroom")
    card = teacher.locator(f'.screen[data-desktop-id="{desktops["sam"]["id"]}"]')
    card.locator("[data-action=help]").click()
    expect(teacher).to_have_url(f"{broker.url}/desktops/{desktops['sam']['id']}/view?mode=help")
    expect(teacher.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
    teacher.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
    expect(teacher.locator("#view-only-badge")).to_be_hidden()  # with control
    expect(teacher.locator("#hand-back-button")).to_be_visible()

    sam = students["sam"]
    expect(sam.locator("#control-text")).to_have_text("tess is controlling your desktop to help", timeout=10_000)
    [(_, _, joined)] = live_connections(broker, "help")
    assert ("sam", desktops["sam"]["id"], joined) in live_connections(broker, "control")  # sam's own, joined
    shot(sam, "student_controlled")
    shot(teacher, "teacher_helping")

    sam.locator("#end-control-button").click()  # one click
    expect(sam.locator("#control-badge")).to_be_hidden(timeout=10_000)
    expect(teacher.locator("#viewer")).to_have_attribute("data-state", "error", timeout=10_000)
    expect(teacher.locator(".overlay-message")).to_have_text("The help with control was ended.")
    assert live_connections(broker, "help") == []
    expect(sam.locator("#viewer")).to_have_attribute("data-state", "connected")  # sam works on

    # The teacher helps sue and hands back: back on the wall, sue's notice goes.
    teacher.goto(f"{broker.url}/desktops/{desktops['sue']['id']}/view?mode=help")
    expect(teacher.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
    sue = students["sue"]
    expect(sue.locator("#control-badge")).to_be_visible(timeout=10_000)
    teacher.locator("#hand-back-button").click()
    expect(teacher).to_have_url(f"{broker.url}/classroom")
    expect(sue.locator("#control-badge")).to_be_hidden(timeout=10_000)
    assert live_connections(broker, "help") == []
    assert watched.problems() == []


def test_a_demo_reaches_every_student_and_ends(lesson, students, watched):
    broker, teacher = lesson, watched.page
    own = {student: start_desktop(broker, student) for student in ("sam", "sue")}
    mine = start_desktop(broker, "tess")
    for student, desktop in own.items():
        open_drawn_viewer(students[student], broker, desktop)
    sid = students["sid"]
    sid.goto(broker.url + "/")  # sid has no desktop: the dashboard

    sign_in_page(teacher, broker, "tess")
    teacher.goto(broker.url + "/classroom")
    expect(teacher.locator("#demo-status")).to_have_text("No demo running.")
    teacher.locator("#show-mine-button").click()
    expect(teacher.locator("#demo-status")).to_have_text("The class sees XFCE desktop of tess.")
    shot(teacher, "teacher_demo")

    for student, page in students.items():
        back = f"&back={own[student]['id']}" if student in own else ""
        expect(page).to_have_url(f"{broker.url}/desktops/{mine['id']}/view?mode=demo{back}", timeout=15_000)
        expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
        page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
        expect(page.locator("#demo-badge")).to_have_text("tess is showing their desktop to the class (view only)")
        expect(page.locator("#view-only-badge")).to_be_visible()
    shot(students["sam"], "student_demo")
    demo_tunnels = live_connections(broker, "demo")
    assert [(person, desktop) for person, desktop, _ in demo_tunnels] == [(s, mine["id"]) for s in sorted(STUDENTS)]
    assert len({joined for _, _, joined in demo_tunnels}) == 1  # one guacd connection, joined read-only

    teacher.locator("#end-demo-button").click()
    expect(teacher.locator("#demo-status")).to_have_text("No demo running.")
    for student, desktop in own.items():
        page = students[student]
        expect(page).to_have_url(f"{broker.url}/desktops/{desktop['id']}/view", timeout=15_000)
        expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
        page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
    expect(sid).to_have_url(f"{broker.url}/", timeout=15_000)
    assert live_connections(broker, "demo") == []
    assert watched.problems() == []
