"""One click to a drawn desktop, in headless Chromium with every part real (the stack of
test_viewer_end_to_end: single sign-on, `broker serve` on PostgreSQL, xfce desktops on Docker,
guacd, one origin in front): the dashboard's Start opens the viewer at once, the viewer shows how
far the start is and draws the desktop when it runs, cold and from a stopped container; a start
that fails says why in the viewer and what to do. Screenshots: tests/artifacts/<test>.png."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from broker.models import DesktopType
from tests.fixtures.browser import ARTIFACTS
from tests.viewer.test_viewer_end_to_end import DRAWN_COLOURS, Stack
from tests.viewer.test_viewer_end_to_end import stack as stack  # the module's own instance of the stack

pytestmark = pytest.mark.usefixtures("built_viewer")

# Every state and start step the viewer passes through, with what its overlay said then and its address.
RECORD_STATES = """() => {
  window.__states = [];
  const note = (viewer) => {
    const message = document.querySelector('.overlay-message')?.textContent || '';
    const detail = document.querySelector('.overlay-detail');
    window.__states.push([viewer.dataset.state, viewer.dataset.step || '', message,
      detail && !detail.hidden ? detail.textContent : '', location.pathname + location.search]);
  };
  new MutationObserver(() => {
    const viewer = document.getElementById('viewer');
    if (!viewer || viewer.__observed) return;
    viewer.__observed = true;
    note(viewer);
    new MutationObserver(() => note(viewer)).observe(viewer, { subtree: true, attributes: true, childList: true,
      characterData: true });
  }).observe(document, { childList: true, subtree: true });
}"""


def click_start(stack: Stack, page: Page, type_id: str) -> None:
    page.goto(stack.proxy.url + "/")
    card = page.locator(f".desktop-card[data-type={type_id}]")
    card.get_by_role("button", name="Start").click()


def steps_seen(page: Page) -> list[list[str]]:
    return page.evaluate("window.__states")


def test_one_click_on_start_ends_with_a_drawn_desktop_in_the_viewer(stack, watched):
    page = watched.page
    page.add_init_script(f"({RECORD_STATES})()")
    stack.sign_in(page, "tina")
    watched.reset()

    click_start(stack, page, "xfce")  # cold: no container yet
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=60_000)
    page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
    desktop = stack.api(page, "GET", "/api/container/status?desktop_type=xfce")
    assert desktop["state"] == "running"
    # A reload now reconnects to this desktop instead of starting it again.
    expect(page).to_have_url(f"{stack.proxy.url}/desktops/{desktop['id']}/view?protocol=guacamole&mode=control")
    seen = steps_seen(page)
    starting = [entry for entry in seen if entry[0] == "starting"]
    assert starting, seen
    assert starting[0][2] == "Starting your desktop…", seen
    assert starting[0][3] == "Asking for your desktop", seen
    assert starting[0][4] == "/start/xfce?protocol=guacamole", seen
    assert seen.index(starting[-1]) < [entry[0] for entry in seen].index("connected"), seen

    # Stopped meanwhile: the same click starts its container again and draws it.
    stack.api(page, "POST", "/api/container/stop?desktop_type=xfce")
    click_start(stack, page, "xfce")
    page.wait_for_function("() => (window.__states || []).some(([state]) => state === 'starting')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_one_click_starting.png"))
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=60_000)
    page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
    assert stack.api(page, "GET", "/api/container/status?desktop_type=xfce")["id"] == desktop["id"]
    assert any(entry[0] == "starting" for entry in steps_seen(page))
    page.screenshot(path=str(ARTIFACTS / "test_one_click_drawn.png"))

    # Running already: the dashboard's Connect opens it as before.
    page.goto(stack.proxy.url + "/")
    page.locator(".desktop-card[data-type=xfce]").get_by_role("link", name="Connect to").click()
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
    stack.api(page, "POST", "/api/container/remove?desktop_type=xfce")
    assert watched.problems() == []


def test_a_start_that_fails_says_why_in_the_viewer(stack, watched):
    page = watched.page
    with stack.broker.session() as db:  # a desktop type whose image is not on the engine
        db.merge(DesktopType(id="atlas", image="deskbroker/atlas:none", title_en="Atlas", title_de="Atlas"))
        db.commit()
    stack.sign_in(page, "bob")
    watched.reset()
    starts = []
    page.on("request", lambda request: starts.append(request.url) if "/api/container/start" in request.url else None)
    # The early-start script comes late, so the viewer's bundle runs first, as it may on a busy
    # machine: the desktop is still asked for once, and its answer is the one shown.
    page.route("**/viewer-start.js*", lambda route: (time.sleep(1.5), route.continue_()))

    click_start(stack, page, "atlas")
    message = page.locator(".overlay-message")
    expect(message).to_have_text("This desktop is not installed on the server. Tell your administrator.")
    expect(message).to_have_attribute("role", "alert")
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    expect(page.locator("#state")).to_have_text("Not connected")
    expect(page.get_by_role("button", name="Try again")).to_be_focused()
    expect(page.get_by_role("link", name="Back to the start page")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_a_start_that_fails_says_why_in_the_viewer.png"))
    page.locator("#language-button").click()
    expect(message).to_have_text(
        "Dieser Desktop ist auf dem Server nicht installiert. Sagen Sie es Ihrer Administration."
    )
    assert len(starts) == 1, starts
    assert watched.problems(expected_failures=("/api/container/start",)) == []


def test_a_viewer_whose_code_did_not_all_arrive_loads_again_by_itself(stack, watched):
    """A dropped connection (a school's Wi-Fi) loses one of the viewer's files: the page loads
    again by itself once and draws the desktop, instead of showing "Connecting" for ever."""
    page = watched.page
    stack.sign_in(page, "alice")
    page.goto(stack.proxy.url + "/")
    start = page.locator(".desktop-card[data-type=xfce]").get_by_role("button", name="Start")
    expect(start).to_be_visible()
    watched.reset()
    dropped: list[str] = []

    def drop_the_first(route):
        if dropped:
            route.continue_()
        else:
            dropped.append(route.request.url)
            route.abort("connectionreset")

    page.route("**/static/app/chunks/*.js", drop_the_first)
    pages_asked: list[str] = []
    page.on("request", lambda asked: pages_asked.append(asked.url) if asked.resource_type == "document" else None)
    start.click()
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=60_000)
    page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)
    assert len(dropped) == 1, dropped
    assert [url.split("?")[0].rsplit("/", 2)[-2:] for url in pages_asked[:2]] == [["start", "xfce"]] * 2, pages_asked
    expect(page.locator(".load-error")).to_have_count(0)
    stack.api(page, "POST", "/api/container/remove?desktop_type=xfce")
    assert watched.problems(expected_failures=("/static/app/chunks/",)) == []
