"""The dashboard in headless Chromium against `broker serve` with real desktops on Docker:
the desktop types as cards, a `base` desktop started elsewhere turning to running without a
reload, Start opening the viewer (which says why a start was refused), a folder assigned
meanwhile announced on it, stopped by another client and the card following by itself
(server-sent events), and the language toggle. Screenshots: tests/artifacts/<test>.png."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from broker.models import User
from tests.fixtures.pages import PASSWORD, create_local_account, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")


def api_client(broker, username: str) -> requests.Session:
    """Another client of the same person: a Bearer token, no browser."""
    client = requests.Session()
    token = client.post(
        broker.url + "/api/auth/local/login", timeout=10, json={"username": username, "password": PASSWORD}
    ).json()["session_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_start_from_the_card_and_see_an_outside_stop_arrive_by_itself(desktop_broker, watched, strings):
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "dora")
    sign_in_page(page, broker, "dora")
    page.goto(broker.url + "/")
    expect(page.locator("#display-name")).to_be_visible()
    card = page.locator(".desktop-card[data-type=base]")
    expect(card).to_have_attribute("data-state", "none")
    expect(card.locator(".status")).to_have_text("Not started")
    expect(card.locator(".type-icon")).to_be_visible()  # the catalog's icon name has a stand-in
    expect(page.locator(".desktop-card[data-type=xfce]")).to_be_visible()
    expect(page.locator("#live-state")).to_have_attribute("data-mode", "live")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    # Started by another client of hers (the card's own Start opens the viewer: tests/viewer): the
    # card follows without a reload.
    assert api_client(broker, "dora").post(broker.url + "/api/container/start?desktop_type=base", timeout=60).ok
    expect(card).to_have_attribute("data-state", "running", timeout=60_000)
    expect(card.locator(".status")).to_have_text("Running")
    connect = card.get_by_role("link", name="Connect to")
    desktop = api_client(broker, "dora").get(broker.url + "/api/container/status?desktop_type=base").json()
    assert desktop["state"] == "running"
    expect(connect).to_have_attribute("href", f"/desktops/{desktop['id']}/view?protocol=guacamole&mode=control")
    expect(card.locator(".last-access")).not_to_have_text("never")

    # An admin assigns her a folder meanwhile: the running card says how to get it, without a reload.
    create_local_account(broker, "alma", "admin")
    admin = api_client(broker, "alma")
    with broker.session() as db:
        dora_id = db.query(User.id).filter(User.username == "dora").scalar()
    made = admin.post(
        broker.url + "/api/teacher/assignments",
        timeout=10,
        json={"desktop_type": "base", "user_id": dora_id, "folder": "Material"},
    )
    assert made.status_code == 201, made.text
    notice = card.get_by_role("status")
    expect(notice).to_have_text(strings["en"]["dash.newFolder"].replace("{folders}", "“Material”"))
    page.locator("#language-button").click()
    expect(notice).to_have_text(strings["de"]["dash.newFolder"].replace("{folders}", "„Material“"))
    page.locator("#language-button").click()
    expect(notice).to_have_text(strings["en"]["dash.newFolder"].replace("{folders}", "“Material”"))

    other = api_client(broker, "dora")  # stopped elsewhere: the card follows without a reload
    assert other.post(broker.url + "/api/container/stop?desktop_type=base", timeout=60).ok
    expect(card).to_have_attribute("data-state", "stopped", timeout=10_000)
    expect(card.locator(".status")).to_have_text("Stopped")
    expect(card.get_by_role("button", name="Start")).to_be_enabled()
    expect(notice).to_have_count(0)  # the next start brings the folder

    page.on("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Remove").click()
    expect(card).to_have_attribute("data-state", "none")
    assert navigations == [], navigations
    # base is open to everyone again for the other tests of this module
    assert admin.delete(f"{broker.url}/api/teacher/assignments/{made.json()['id']}", timeout=30).ok
    assert watched.problems() == []


def test_the_language_toggle_switches_the_visible_strings(desktop_broker, watched, strings):
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "lena")
    sign_in_page(page, broker, "lena")
    page.goto(broker.url + "/")
    expect(page.locator("h1")).to_have_text(strings["en"]["dash.heading"])
    card = page.locator(".desktop-card[data-type=base]")
    expect(card.get_by_role("button", name="Start")).to_be_visible()

    page.locator("#language-button").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    texts = page.evaluate("""() => [...document.querySelectorAll('[data-i18n]')]
        .filter((e) => e.checkVisibility()).map((e) => [e.dataset.i18n, e.textContent])""")
    assert texts, "no translated strings"
    for key, text in texts:
        if "{" not in strings["de"][key]:
            assert text == strings["de"][key], key
    expect(card.locator(".status")).to_have_text(strings["de"]["dash.state.none"])
    expect(page.locator("#logout")).to_have_text("Abmelden")
    assert page.title() == f"{strings['de']['dash.title']} · deskbroker"  # the app name is not translated
    page.reload()  # the choice is remembered
    expect(page.locator("#logout")).to_have_text("Abmelden")
    assert watched.problems() == []


def test_start_opens_the_viewer_which_explains_a_refused_start(desktop_broker, watched):
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "finn")
    sign_in_page(page, broker, "finn")
    page.goto(broker.url + "/")
    card = page.locator(".desktop-card[data-type=base]")
    expect(card).to_be_visible()
    page.route(
        "**/api/container/start*",
        lambda route: route.fulfill(
            status=409,
            content_type="application/json",
            body='{"error": "quota_exceeded", "message": "You have 1 running desktop; the limit is 1."}',
        ),
    )
    card.get_by_role("button", name="Start").click()
    expect(page).to_have_url(broker.url + "/start/base?protocol=guacamole")
    expect(page.locator(".overlay-message")).to_have_text(
        "You have reached your limit of running desktops. Stop another desktop first."
    )
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    page.get_by_role("link", name="Back to the start page").click()  # where another desktop can be stopped
    expect(card.get_by_role("button", name="Start")).to_be_enabled()
    assert watched.problems(expected_failures=("/api/container/start",)) == []
