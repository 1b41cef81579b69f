"""The language toggle in headless Chromium stores the pick with the person (another browser, with
nothing remembered, opens in it), and the desktop started from the dashboard's card speaks it: its
XFCE session's locale, date format and keyboard layout (tests/desktops/test_desktop_language.py
covers German, English and changing it in detail). Against `broker serve` with real desktops."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.desktops.test_dashboard import api_client
from tests.desktops.test_desktop_language import ENGLISH, what_it_speaks
from tests.fixtures.pages import create_local_account, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")


@pytest.mark.locale("de-DE")
def test_the_toggle_picks_the_language_of_the_next_desktop(desktop_broker, watched, docker_engine, browser, strings):
    page, broker = watched.page, desktop_broker  # a German browser
    create_local_account(broker, "jana")
    sign_in_page(page, broker, "jana")
    page.goto(broker.url + "/")
    expect(page.locator("h1")).to_have_text(strings["de"]["dash.heading"])
    person = api_client(broker, "jana")
    assert person.get(broker.url + "/api/auth/session", timeout=10).json()["user"]["language"] is None

    page.locator("#language-button").click()
    expect(page.locator("h1")).to_have_text(strings["en"]["dash.heading"])
    expect(page.locator('meta[name="person-language"]')).to_have_attribute("content", "en")  # stored
    assert person.get(broker.url + "/api/auth/session", timeout=10).json()["user"]["language"] == "en"

    other = browser.new_context(locale="de-DE")  # another German browser, nothing remembered in it
    try:
        elsewhere = other.new_page()
        sign_in_page(elsewhere, broker, "jana")
        elsewhere.goto(broker.url + "/")
        expect(elsewhere.locator("h1")).to_have_text(strings["en"]["dash.heading"])
    finally:
        other.close()

    card = page.locator(".desktop-card[data-type=xfce]")
    card.get_by_role("button", name=strings["en"]["dash.start"]).click()  # the viewer it opens starts it
    # This broker has no guacd (the desktop's language is the point here): its state, not its picture.
    expect(page).to_have_url(re.compile(r"/start/xfce"))
    desktop = running_desktop(broker, person, "xfce")
    page.goto(broker.url + "/")
    assert what_it_speaks(docker_engine, desktop["container_id"]) == ENGLISH
    assert person.post(broker.url + "/api/container/stop?desktop_type=xfce", timeout=60).ok
    assert watched.problems() == []


def running_desktop(broker, person, desktop_type: str, timeout: float = 90) -> dict:
    """The desktop once its start has ended; the viewer's page is there before its start request is
    (no desktop yet: 404), and its own state can change before the start does."""
    deadline = time.monotonic() + timeout
    while True:
        answer = person.get(broker.url + f"/api/container/status?desktop_type={desktop_type}", timeout=10)
        desktop = answer.json()
        starting = answer.status_code == 404 or desktop["state"] in ("creating", "starting")
        if not starting or time.monotonic() > deadline:
            assert answer.ok and desktop["state"] == "running", desktop
            return desktop
        time.sleep(0.5)
