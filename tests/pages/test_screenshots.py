"""A tour of the web app as people see it, in headless Chromium against `broker serve` with guacd
and a real xfce desktop: the sign-in page, a student's dashboard with her desktop running, the
viewer drawing it, her files, the teacher's classroom with a picture of her screen (then her raised
hand, a message and the locked screens, on the wall and in her viewer), and the admin
dashboard counting her desktop and connection. Each page is shown filled in and saved as a PNG:
in tests/artifacts/screenshots/, or where DESKBROKER_SCREENSHOTS_DIR says (scripts/screenshots.sh
writes the README's pictures in docs/screenshots/ that way)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from broker.desktops import make_provider
from tests.fixtures.broker import make_settings, start_live_broker
from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.fixtures.desktops import desktop_overrides, remove_everything_of, run_guacd
from tests.fixtures.pages import add_group, create_local_account, sign_in_page
from tests.teacher.test_classroom import PICTURE_COLOURS, open_drawn_viewer, start_desktop

pytestmark = pytest.mark.usefixtures("built_viewer")

SCREENSHOTS = Path(os.environ.get("DESKBROKER_SCREENSHOTS_DIR") or ARTIFACTS / "screenshots")


@pytest.fixture(scope="module")
def tour_broker(tmp_path_factory, docker_engine, desktop_images):
    """`broker serve` (SQLite) with guacd on the desktop network; ada (admin), tess teaches 7b, where
    lea is a student."""
    instance = "t" + secrets.token_hex(4)
    overrides = desktop_overrides(instance)
    make_provider(make_settings(**overrides)).ensure_network()
    try:
        with run_guacd(docker_engine, instance, overrides["desktop_network"]) as (_guacd, guacd_ip):
            folder = tmp_path_factory.mktemp("tour")
            broker = start_live_broker(folder, f"sqlite:///{folder / 'broker.db'}", guacd_host=guacd_ip, **overrides)
            try:
                for name, roles in (("ada", ("admin",)), ("tess", ("teacher",)), ("lea", ())):
                    create_local_account(broker, name, *roles)
                add_group(broker, "7b", "Klasse 7b", ["tess", "lea"])
                yield broker
            finally:
                broker.stop()
    finally:
        remove_everything_of(docker_engine, instance)


def signed_in(browser, broker, username: str | None) -> Page:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    if username:
        sign_in_page(page, broker, username)
    return page


def save(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_every_page_shows_a_class_at_work(tour_broker, browser):
    broker = tour_broker
    pages = []
    try:
        visitor = signed_in(browser, broker, None)
        pages.append(visitor)
        visitor.goto(broker.url + "/")
        expect(visitor.locator("#local-login")).to_be_visible()
        expect(visitor.locator("#language-button")).not_to_be_empty()
        save(visitor, "sign-in")

        desktop = start_desktop(broker, "lea")
        lea = signed_in(browser, broker, "lea")
        pages.append(lea)
        lea.goto(broker.url + "/")
        card = lea.locator(".desktop-card[data-type=xfce]")
        expect(card).to_have_attribute("data-state", "running")
        expect(card.get_by_role("link", name="Connect to")).to_be_visible()
        save(lea, "dashboard")

        request = lea.context.request
        csrf = {"X-CSRF-Token": request.get(broker.url + "/api/auth/session").json()["csrf_token"]}
        for folder in ("Deutsch", "Mathe"):
            assert request.post(broker.url + "/api/files/home/folder", data={"path": folder}, headers=csrf).ok
        files = lea.context.new_page()
        files.goto(broker.url + "/files")
        expect(files.locator("#listing")).to_have_attribute("aria-busy", "false")
        expect(files.locator("#listing .entry-name", has_text="Mathe")).to_be_visible()
        save(files, "files")

        open_drawn_viewer(lea, broker, desktop)
        lea.wait_for_timeout(2_000)  # the desktop's panel and icons finish drawing
        save(lea, "viewer")

        teacher = signed_in(browser, broker, "tess")
        pages.append(teacher)
        teacher.goto(broker.url + "/classroom")
        screen = teacher.locator(f'.screen[data-desktop-id="{desktop["id"]}"]')
        expect(screen).to_have_attribute("data-state", "drawn", timeout=20_000)
        teacher.wait_for_function(PICTURE_COLOURS, arg=[desktop["id"], 20], timeout=10_000)
        save(teacher, "classroom")

        # A lesson: lea raises her hand; tess sends the class a message and locks the screens.
        lea.click("#hand-button")
        expect(screen).to_have_attribute("data-hand", "raised", timeout=10_000)
        teacher.fill("#message-text", "Please save your work in the folder Mathe.")
        teacher.click("#message-button")
        expect(lea.locator("#messages .message")).to_have_count(1, timeout=10_000)
        teacher.fill("#lock-text", "Eyes to the front, please")
        teacher.click("#lock-button")
        expect(screen).to_have_attribute("data-locked", "true", timeout=10_000)
        expect(lea.locator("#lock-screen")).to_be_visible(timeout=10_000)
        teacher.locator("#screens").scroll_into_view_if_needed()
        save(teacher, "classroom-lesson")
        save(lea, "viewer-locked")
        teacher.click("#unlock-button")
        expect(lea.locator("#lock-screen")).to_be_hidden(timeout=10_000)

        admin = signed_in(browser, broker, "ada")
        pages.append(admin)
        admin.goto(broker.url + "/admin#overview")
        expect(admin.locator("#stat-running")).to_have_text("1")
        expect(admin.locator("#stat-live-connections")).to_have_text("1")  # lea's viewer
        save(admin, "admin")
    finally:
        for page in pages:
            page.context.close()
    saved = {path.stem for path in SCREENSHOTS.glob("*.png")}
    assert {
        "sign-in",
        "dashboard",
        "files",
        "viewer",
        "classroom",
        "classroom-lesson",
        "viewer-locked",
        "admin",
    } <= saved
