"""The viewer page and its built assets against a live broker (`broker serve`) in headless
Chromium: the bundle loads under the broker's CSP without errors, the status overlay maps
the broker's refusals to messages in German or English, the language toggle and view-only
mode. (The connection itself: test_viewer_end_to_end.py.)"""

from __future__ import annotations

import subprocess

import pytest
import requests
from playwright.sync_api import expect

from tests.fixtures.broker import start_live_broker
from tests.fixtures.pages import BUNDLE, WEB, create_local_account, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")

PROTOCOLS = ("guacamole", "novnc")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One `broker serve` for this module's tests (each test has its own browser context)."""
    folder = tmp_path_factory.mktemp("viewer-broker")
    broker = start_live_broker(folder, f"sqlite:///{folder / 'broker.db'}")
    create_local_account(broker, "vera")
    yield broker
    broker.stop()


def view_url(broker, desktop_id: str = "no-such-desktop", **query: str) -> str:
    args = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{broker.url}/desktops/{desktop_id}/view" + (f"?{args}" if args else "")


def visible_i18n_texts(page) -> dict[str, str]:
    """key → text of every visible element whose text comes from the string tables."""
    return page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('[data-i18n]')]
          .filter((e) => e.checkVisibility() && !e.dataset.i18nParams)
          .map((e) => [e.dataset.i18n, e.textContent]))""")


def test_the_build_is_deterministic(tmp_path):
    for name in ("a", "b"):
        subprocess.run(["node", "build.mjs", str(tmp_path / name)], cwd=WEB, check=True, capture_output=True)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {"viewer-guacamole.js", "viewer-novnc.js", "viewer.css"} <= {str(f) for f in files}
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_signed_out_visitors_are_sent_to_sign_in(broker):
    answer = requests.get(view_url(broker), allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] in ("/", broker.url + "/")


@pytest.mark.parametrize("query", [{"protocol": "rdp"}, {"mode": "admin"}])
def test_unknown_protocol_or_mode_is_refused_with_a_page(broker, page, query):
    sign_in_page(page, broker, "vera")
    response = page.goto(view_url(broker, **query))
    assert response.status == 400
    assert "is one of" in page.inner_text("#error-message")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_assets_load_under_the_csp_and_a_missing_desktop_is_explained(broker, watched, protocol):
    page = watched.page
    sign_in_page(page, broker, "vera")
    loaded = []
    page.on("response", lambda r: loaded.append((r.url, r.status)) if "/static/app/" in r.url else None)
    page.goto(view_url(broker, protocol=protocol))
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    expect(page.locator(".overlay-message")).to_have_text("This desktop does not exist, or it is not yours.")
    expect(page.locator(".overlay-message")).to_have_attribute("role", "alert")
    expect(page.locator("#state")).to_have_text("Not connected")
    expect(page.get_by_role("link", name="Back to the start page")).to_have_attribute("href", "/")
    scripts = {url.rsplit("/", 1)[-1] for url, _ in loaded}
    assert f"viewer-{protocol}.js" in scripts and "viewer.css" in scripts
    assert all(status in (200, 304) for _, status in loaded), loaded
    assert watched.problems(expected_failures=("/connect",)) == []


@pytest.mark.locale("de-DE")
def test_german_browsers_get_german_and_the_toggle_switches_every_string(broker, watched, strings):
    page = watched.page
    sign_in_page(page, broker, "vera")
    page.goto(view_url(broker))
    expect(page.locator(".overlay-message")).to_have_text(strings["de"]["error.notFound"])
    page.click("#clipboard-button")  # the panel's strings too
    assert page.evaluate("document.documentElement.lang") == "de"
    german = visible_i18n_texts(page)
    assert german and all(strings["de"][key] == text for key, text in german.items()), german
    assert page.get_attribute("#screen", "aria-label") == strings["de"]["viewer.screen"]

    page.click("#language-button")
    english = visible_i18n_texts(page)
    assert english.keys() == german.keys()
    assert all(strings["en"][key] == text for key, text in english.items()), english
    assert page.get_attribute("#screen", "aria-label") == strings["en"]["viewer.screen"]
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.locator("#language-button")).to_have_text("Deutsch")
    assert page.get_attribute("#language-button", "lang") == "de"

    page.reload()  # the choice is remembered over the browser's preference
    expect(page.locator(".overlay-message")).to_have_text(strings["en"]["error.notFound"])
    assert watched.problems(expected_failures=("/connect",)) == []


def test_view_only_shows_a_badge_and_a_read_only_clipboard(broker, page):
    sign_in_page(page, broker, "vera")
    page.goto(view_url(broker, mode="view"))
    expect(page.locator("#view-only-badge")).to_be_visible()
    expect(page.locator("#view-only-badge")).to_have_text("View only")
    page.click("#clipboard-button")
    expect(page.locator("#clipboard-text")).not_to_be_editable()
    expect(page.locator("#clipboard-hint")).to_have_text("Text copied on the desktop appears here.")


def test_control_mode_has_no_badge_and_an_editable_clipboard(broker, page):
    sign_in_page(page, broker, "vera")
    page.goto(view_url(broker))
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    expect(page.locator("#view-only-badge")).to_be_hidden()
    page.click("#clipboard-button")
    expect(page.locator("#clipboard-panel")).to_be_visible()
    expect(page.locator("#clipboard-button")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#clipboard-text")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#clipboard-panel")).to_be_hidden()
    expect(page.locator("#clipboard-button")).to_be_focused()


@pytest.mark.parametrize(("mode", "streams"), [("control", 1), ("view", 0)])
def test_the_owners_viewer_follows_one_event_stream_and_a_watchers_none(broker, page, mode, streams):
    """Each open stream costs the broker a look at the database a second: one per page is enough."""
    sign_in_page(page, broker, "vera")
    opened: list[str] = []
    page.on("request", lambda request: "/api/events" in request.url and opened.append(request.url))
    page.goto(view_url(broker, mode=mode))
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    page.wait_for_timeout(1500)  # the page's scripts have run and opened what they open
    assert len(opened) == streams


def test_signing_out_elsewhere_turns_try_again_into_sign_in(broker, page):
    sign_in_page(page, broker, "vera")
    page.goto(view_url(broker))
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    csrf = page.context.request.get(broker.url + "/api/auth/session").json()["csrf_token"]
    assert page.context.request.post(broker.url + "/api/auth/logout", headers={"X-CSRF-Token": csrf}).ok
    page.get_by_role("button", name="Try again").click()
    expect(page.locator(".overlay-message")).to_have_text("You are signed out. Please sign in again.")
    expect(page.get_by_role("link", name="Sign in")).to_have_attribute("href", "/")
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)


def test_the_bundle_is_not_in_git():
    tracked = subprocess.run(
        ["git", "ls-files", str(BUNDLE), str(WEB / "node_modules")], cwd=WEB, capture_output=True, text=True, check=True
    ).stdout
    ignored = subprocess.run(["git", "check-ignore", "-q", str(BUNDLE / "viewer-guacamole.js")], cwd=WEB)
    assert tracked == "" and ignored.returncode == 0
