"""A lesson in headless Chromium: `broker serve` with guacd and real desktops on Docker, a teacher and
three students in browser contexts of their own. The teacher starts the lesson in the classroom: the
students' desktops run before they open their dashboards. From the panel an address opens on every
desktop (a javascript: one is refused) and the hand-ins are collected (shown, and in the file manager).
Ending it warns each student in the viewer (and on the dashboard) with a countdown, then their desktops
stop. Screenshots:
tests/artifacts/test_lessons_*.png."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.fixtures.classroom import class_broker
from tests.fixtures.pages import PASSWORD, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")

STUDENTS = ("ada", "bea", "cem")
WARNING_SECONDS = 12
STOPPED_TEXT = re.compile("stopped")
STUB = '#!/bin/sh\necho "$(id -un) $*" >> /tmp/opened\n'


@pytest.fixture(scope="module")
def lesson_broker(tmp_path_factory, docker_engine, desktop_images):
    """`broker serve` (SQLite) with guacd; tess teaches 5a with three students."""
    with class_broker(tmp_path_factory, docker_engine, STUDENTS, lesson_end_warning=f"{WARNING_SECONDS}s") as broker:
        yield broker


def desktops_of(broker, username: str) -> list[dict]:
    client = requests.Session()
    token = client.post(
        broker.url + "/api/auth/local/login", timeout=10, json={"username": username, "password": PASSWORD}
    ).json()["session_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client.get(broker.url + "/api/container/list", timeout=10).json()["desktops"]


def settled_desktop_of(broker, username: str, within: float = 30) -> dict:
    deadline = time.monotonic() + within
    while True:
        [desktop] = desktops_of(broker, username)
        if desktop["state"] not in ("stopping", "running") or time.monotonic() > deadline:
            return desktop
        time.sleep(0.3)


def test_a_lesson_starts_warm_desktops_and_ends_them_after_warning_the_students(
    lesson_broker, browser, watched, docker_engine
):
    broker, teacher = lesson_broker, watched.page
    sign_in_page(teacher, broker, "tess")
    group_id = teacher.context.request.get(broker.url + "/api/teacher/groups").json()["groups"][0]["id"]
    csrf = teacher.context.request.get(broker.url + "/api/auth/session").json()["csrf_token"]
    made = teacher.context.request.post(
        broker.url + "/api/teacher/assignments",
        data={"desktop_type": "base", "group_id": group_id, "folder": "Mathe"},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status == 201, made.text()
    teacher.goto(broker.url + "/classroom")
    panel = teacher.locator("#lesson-panel")
    expect(panel).to_be_visible()
    expect(teacher.locator("#lesson-status")).to_have_text("No lesson is running for this group.")
    expect(teacher.locator("#lesson-type option[value=base]")).to_have_count(1, timeout=30_000)
    teacher.select_option("#lesson-type", "base")
    teacher.click("#lesson-start")
    status = teacher.locator("#lesson-status")
    expect(status).to_have_attribute("data-started", "3", timeout=90_000)
    expect(status).to_have_text("Lesson on Minimal desktop: 3 of 3 desktops started.")
    expect(teacher.locator("#lesson-progress li[data-state=running]")).to_have_count(3)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "test_lessons_started.png"))

    # Warm before anyone arrives: each student's desktop runs before they open their dashboard.
    desktops = {}
    for name in STUDENTS:
        [desktop] = desktops_of(broker, name)
        assert (desktop["desktop_type"], desktop["state"], desktop["stops_at"]) == ("base", "running", None)
        desktops[name] = desktop

    # Open for everyone from the panel (a stub xdg-open in each desktop writes down what it was given),
    # and collect: ada handed in one file, the others nothing.
    for name, desktop in desktops.items():
        container = docker_engine.containers.get(desktop["container_id"])
        container.exec_run(
            ["sh", "-c", f"printf '{STUB}' > /usr/local/bin/xdg-open && chmod 755 /usr/local/bin/xdg-open"]
        )
        if name == "ada":
            container.exec_run(["sh", "-c", "echo 42 > ~/Abgabe/Mathe/Lösung.txt"], user="user")
    teacher.fill("#open-url", "https://example.org/")
    teacher.click("#open-url-button")
    expect(teacher.locator("#open-result")).to_have_text("Opened on 3 of 3 students' desktops.")
    for desktop in desktops.values():
        container = docker_engine.containers.get(desktop["container_id"])
        assert container.exec_run(["cat", "/tmp/opened"]).output.decode() == "user https://example.org/\n"
    teacher.fill("#open-url", "javascript:alert(1)")
    teacher.click("#open-url-button")
    expect(teacher.locator("#lesson-error")).to_have_text(
        "Only web addresses starting with http:// or https:// can be opened."
    )
    expect(teacher.locator("#collect-hint")).to_contain_text("Abgabe/Mathe")
    teacher.click("#collect-button")
    result = teacher.locator("#collect-result")
    expect(result.locator("tr[data-username=ada]")).to_have_attribute("data-files", "1")
    expect(result.locator("tr[data-username=ada] td")).to_have_text("Lösung.txt (3 B)")
    expect(result.locator("tr[data-username=bea] td")).to_have_text("handed in nothing")
    panel.screenshot(path=str(ARTIFACTS / "test_lessons_opened_and_collected.png"))
    files = teacher.context.new_page()  # the collection in the file manager, one folder per student
    files.goto(broker.url + result.locator("a").get_attribute("href"))
    expect(files.locator("#entries tr")).to_have_count(4)
    for name in (*STUDENTS, "Übersicht.txt"):
        expect(files.locator(f'#entries tr[data-name="{name}"]')).to_have_count(1)
    files.close()

    contexts = [browser.new_context(viewport=VIEWPORT) for _ in STUDENTS]
    try:
        pages = {}
        for name, context in zip(STUDENTS, contexts, strict=True):
            student = context.new_page()
            sign_in_page(student, broker, name)
            student.goto(broker.url + "/")
            expect(student.locator('.desktop-card[data-type="base"]')).to_have_attribute("data-state", "running")
            student.goto(f"{broker.url}/desktops/{desktops[name]['id']}/view?mode=control")
            expect(student.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
            expect(student.locator("#lesson-end")).to_be_hidden()
            pages[name] = student
        on_dashboard = contexts[0].new_page()  # ada has her dashboard open in another tab too
        on_dashboard.goto(broker.url + "/")

        teacher.once("dialog", lambda dialog: dialog.accept())
        teacher.click("#lesson-end-button")
        expect(status).to_contain_text("is ending", timeout=10_000)
        for name, student in pages.items():
            banner = student.locator("#lesson-end")
            expect(banner).to_be_visible(timeout=10_000)
            expect(banner).to_contain_text("The lesson is ending. Save your work")
            seconds = int(banner.get_attribute("data-seconds"))
            assert 0 < seconds <= WARNING_SECONDS, (name, seconds)
        notice = on_dashboard.locator('.desktop-card[data-type="base"] .lesson-end')
        expect(notice).to_be_visible(timeout=10_000)
        expect(notice.locator("[role=timer]")).to_have_text(re.compile(r"^0:\d\d$"))
        pages["ada"].screenshot(path=str(ARTIFACTS / "test_lessons_student_warned.png"))
        on_dashboard.screenshot(path=str(ARTIFACTS / "test_lessons_dashboard_warned.png"))

        # The warning over, the broker stops their desktops: the viewers say so.
        for name, student in pages.items():
            expect(student.locator("#viewer")).not_to_have_attribute(
                "data-state", "connected", timeout=(WARNING_SECONDS + 20) * 1000
            )
            expect(student.locator("#viewer")).to_have_attribute("data-state", "error", timeout=20_000)
            expect(student.locator("#overlay .overlay-message")).to_have_text(STOPPED_TEXT)
            desktop = settled_desktop_of(broker, name)  # its tunnel ends as the stop begins
            assert (desktop["state"], desktop["reason"]) == ("stopped", "The lesson ended."), name
        expect(notice).to_be_hidden(timeout=10_000)
        expect(status).to_have_text("No lesson is running for this group.", timeout=10_000)
        pages["ada"].screenshot(path=str(ARTIFACTS / "test_lessons_student_stopped.png"))
    finally:
        for context in contexts:
            context.close()
    assert watched.problems(expected_failures=("/open",)) == []  # the javascript: address, refused
