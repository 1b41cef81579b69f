"""The viewers end to end in headless Chromium, with every part real: single sign-on at the
OpenID provider, `broker serve` on PostgreSQL, an xfce desktop the broker starts, guacd and
websockify on the private desktop network, and one origin in front (tests/support/proxy.py, as
the HTTPS proxy in production). Screenshots: tests/artifacts/<test>.png."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from broker.desktops import make_provider
from broker.images.build import build_images
from tests.fixtures.broker import free_port, make_settings, start_live_broker
from tests.fixtures.browser import ARTIFACTS, VIEWPORT, login_in_browser
from tests.fixtures.desktops import desktop_overrides, remove_everything_of
from tests.fixtures.oidc import start_oidc_provider
from tests.support.proxy import PathProxy
from tests.tier.containers import GUACD_PORT, WEBSOCKIFY_PORT, wait_for_port

pytestmark = pytest.mark.usefixtures("built_viewer")

WEBSOCKIFY_KEY = secrets.token_urlsafe(40)

# Distinct colours among sampled pixels of the largest canvas in the screen: a drawn desktop
# has many, a blank or uniformly filled one a few.
DRAWN_COLOURS = """(minimum) => {
  const canvas = [...document.querySelectorAll('#screen canvas')]
    .sort((a, b) => b.width * b.height - a.width * a.height)[0];
  if (!canvas || !canvas.width || !canvas.height) return false;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4 * 101) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return colours.size >= minimum;
}"""

# What a German keyboard sends: the characters as `key` on their physical keys (AltGr+Q is @).
GERMAN_KEYS = [
    ("g", "KeyG", 71),
    ("r", "KeyR", 82),
    ("ü", "BracketLeft", 186),
    ("ß", "Minus", 219),
    ("@", "KeyQ", 81),
    ("€", "KeyE", 69),
]


class Stack:
    """Everything the browser talks to, for this module's tests."""

    def __init__(self, docker_engine, broker, proxy, guacd):
        self.docker, self.broker, self.proxy, self.guacd = docker_engine, broker, proxy, guacd

    def sign_in(self, page: Page, username: str) -> None:
        login_in_browser(page, self.broker.url + "/api/auth/login", username)

    def api(self, page: Page, method: str, path: str):
        request = page.context.request
        csrf = request.get(self.proxy.url + "/api/auth/session").json()["csrf_token"]
        answer = request.fetch(self.proxy.url + path, method=method, headers={"X-CSRF-Token": csrf})
        assert answer.ok, answer.text()
        return answer.json()

    def running_desktop(self, page: Page) -> dict:
        """The signed-in person's xfce desktop, started (again) if needed."""
        return self.api(page, "POST", "/api/container/start?desktop_type=xfce")

    def open_viewer(self, page: Page, desktop: dict, **query: str) -> None:
        args = "&".join(f"{key}={value}" for key, value in query.items())
        page.goto(f"{self.proxy.url}/desktops/{desktop['id']}/view?{args}")
        expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
        page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres, docker_engine, desktop_images):
    build_images(docker_engine, ["guacd", "websockify"], progress=lambda _line: None)
    instance = "t" + secrets.token_hex(4)
    overrides = desktop_overrides(instance)
    make_provider(make_settings(**overrides)).ensure_network()
    started = []
    try:

        def run(image: str, **options) -> tuple[object, str]:
            # Not labelled as the broker's: its housekeeping removes such containers as orphans.
            container = docker_engine.containers.run(
                image,
                detach=True,
                network=overrides["desktop_network"],
                name=f"{instance}-{image.split('/')[1].split(':')[0]}",
                **options,
            )
            started.append(container)
            container.reload()
            return container, container.attrs["NetworkSettings"]["Networks"][overrides["desktop_network"]]["IPAddress"]

        # The viewer's pages come from the proxy: the broker and websockify allow its origin.
        proxy_port = free_port()
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        guacd, guacd_ip = run("deskbroker/guacd:latest")
        _, websockify_ip = run(
            "deskbroker/websockify:latest",
            read_only=True,
            tmpfs={"/tmp": ""},
            environment={"VNC_TOKEN_KEY": WEBSOCKIFY_KEY, "ALLOWED_ORIGINS": proxy_url},
        )
        wait_for_port(guacd_ip, GUACD_PORT)
        wait_for_port(websockify_ip, WEBSOCKIFY_PORT)

        port = free_port()
        provider = start_oidc_provider(redirect_uris=[f"http://127.0.0.1:{port}/api/auth/authorize"], require_pkce=True)
        broker = start_live_broker(
            tmp_path_factory.mktemp("viewer-e2e"),
            postgres.new_database(),
            port,
            **overrides,
            guacd_host=guacd_ip,
            websockify_key=WEBSOCKIFY_KEY,
            allowed_origins=proxy_url,
            oidc_client_id=provider.client_id,
            oidc_client_secret=provider.client_secret,
            oidc_discovery_url=provider.discovery_url,
        )
        # Cookies do not depend on the port: a sign-in at the broker holds for the proxy too.
        proxy = PathProxy(("127.0.0.1", port), {"/websockify": (websockify_ip, WEBSOCKIFY_PORT)}, port=proxy_port)
        yield Stack(docker_engine, broker, proxy, guacd)
        proxy.stop()
        broker.stop()
        provider.close()
    finally:
        for container in started:  # before the desktop network goes
            container.remove(force=True)
        remove_everything_of(docker_engine, instance)


def file_in(stack: Stack, desktop: dict, path: str, expected: str, timeout: float = 10) -> str:
    """`path` in the desktop once it holds `expected` (or what it holds at the timeout)."""
    container = stack.docker.containers.get(desktop["container_id"])
    deadline = time.monotonic() + timeout
    while True:
        code, output = container.exec_run(["cat", path])
        text = output.decode(errors="replace").strip() if code == 0 else ""
        if text == expected or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def open_terminal(stack: Stack, page: Page, desktop: dict) -> None:
    """xfce's shortcut for a terminal (Ctrl+Alt+T), typed into the viewer; waits for its window.
    Terminals of earlier tests are closed first: all windows share one process."""
    container = stack.docker.containers.get(desktop["container_id"])
    running = lambda: container.exec_run(["pgrep", "-x", "xfce4-terminal"]).exit_code == 0  # noqa: E731
    container.exec_run(["pkill", "-x", "xfce4-terminal"])
    deadline = time.monotonic() + 15
    while running():
        assert time.monotonic() < deadline, "an old terminal does not go away"
        time.sleep(0.1)
    page.keyboard.press("Control+Alt+t")
    while not running():
        assert time.monotonic() < deadline, "no terminal opened"
        time.sleep(0.2)
    time.sleep(1.5)  # until its window is mapped and has the keyboard focus


def type_german(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    for key, code, keycode in GERMAN_KEYS:
        event = {"key": key, "code": code, "windowsVirtualKeyCode": keycode}
        cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": key, "unmodifiedText": key, **event})
        cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **event})
    cdp.detach()


def type_dead_keys(cdp) -> None:
    """^ then e on a German keyboard, twice: as Chromium reports it on Linux and Windows (a "Dead"
    key, then the composed character as the next key) and as with an IME or on macOS (a "Dead" key
    that starts a composition, committed as text)."""
    dead = {"key": "Dead", "code": "Backquote", "windowsVirtualKeyCode": 220}
    e = {"key": "ê", "code": "KeyE", "windowsVirtualKeyCode": 69}
    cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", **dead})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **dead})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": "ê", "unmodifiedText": "ê", **e})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **e})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", **dead})
    cdp.send("Input.imeSetComposition", {"text": "^", "selectionStart": 1, "selectionEnd": 1})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **dead})
    cdp.send("Input.insertText", {"text": "ê"})


def paste_through_the_panel(page: Page, text: str) -> None:
    """Browser → desktop: the clipboard panel, then the terminal's paste (Ctrl+Shift+V)."""
    page.click("#clipboard-button")
    page.fill("#clipboard-text", text)
    page.wait_for_timeout(600)  # the panel sends after 300 ms of quiet
    page.click("#clipboard-close")
    page.focus("#screen")
    page.keyboard.press("Control+Shift+V")
    page.wait_for_timeout(800)  # the terminal fetches the selection from the VNC server
    page.keyboard.press("Enter")


def copy_from_the_terminal(page: Page, marker: str) -> None:
    """Desktop → browser: select everything in the terminal and copy it (xfce4-terminal's keys)."""
    page.keyboard.type(f"clear; echo {marker}-$((40+2))\n")
    page.wait_for_timeout(500)
    page.keyboard.press("Control+Shift+A")
    page.keyboard.press("Control+Shift+C")
    expect(page.locator("#clipboard-text")).to_have_value(re.compile(rf"^{marker}-42$", re.M), timeout=10_000)


def test_guacamole_viewer_draws_types_german_and_shares_the_clipboard(stack, watched):
    page = watched.page
    stack.sign_in(page, "alice")
    watched.reset()
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop)
    expect(page.locator("#state")).to_have_text("Connected")
    expect(page.locator(".text-input")).to_be_focused()  # the screen's field: it takes IMEs and dictation too

    open_terminal(stack, page, desktop)
    page.keyboard.type("echo hello-guacamole-$((6*7)) > /tmp/viewer-typed\n")
    assert file_in(stack, desktop, "/tmp/viewer-typed", "hello-guacamole-42") == "hello-guacamole-42"

    page.keyboard.type("echo ")
    type_german(page)
    page.keyboard.type(" > /tmp/viewer-german\n")
    assert file_in(stack, desktop, "/tmp/viewer-german", "grüß@€") == "grüß@€"

    paste_through_the_panel(page, "echo pasted-in-the-browser > /tmp/viewer-pasted")
    assert file_in(stack, desktop, "/tmp/viewer-pasted", "pasted-in-the-browser") == "pasted-in-the-browser"

    copy_from_the_terminal(page, "copied-on-the-desktop")
    assert watched.problems() == []


# What the next helper types without key events, and what must arrive.
TEXT_WITHOUT_KEYS = "Grüße ÄÖÜß @€ ñ 你好 😀 êê"


def type_without_key_events(page: Page, path: str) -> None:
    """`echo …> path` with the text as IMEs, dictation and on-screen keyboards hand it over
    (Chromium's insertText and IME composition), and dead keys."""
    cdp = page.context.new_cdp_session(page)
    page.keyboard.type("echo ")
    cdp.send("Input.insertText", {"text": "Grüße ÄÖÜß @€ ñ "})  # dictation, an on-screen keyboard
    for candidate in ("n", "ni", "nih", "niha", "nihao", "你好"):  # an IME's candidates: never typed
        cdp.send(
            "Input.imeSetComposition",
            {"text": candidate, "selectionStart": len(candidate), "selectionEnd": len(candidate)},
        )
    cdp.send("Input.insertText", {"text": "你好"})  # committed
    cdp.send("Input.insertText", {"text": " 😀 "})  # text without composition still counts after one
    type_dead_keys(cdp)
    cdp.detach()
    page.keyboard.type(f" > {path}\n")


def test_text_without_key_events_reaches_the_desktop_as_typed(stack, watched):
    """Only committed text, each character once, outside Latin-1 too. (The desktop's only font,
    DejaVu, has no glyphs for 你好 and 😀: the terminal draws boxes, but the characters arrive.)"""
    page = watched.page
    stack.sign_in(page, "alice")
    watched.reset()
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop)
    open_terminal(stack, page, desktop)
    type_without_key_events(page, "/tmp/viewer-no-keys")
    assert file_in(stack, desktop, "/tmp/viewer-no-keys", TEXT_WITHOUT_KEYS) == TEXT_WITHOUT_KEYS
    assert watched.problems() == []


def test_novnc_viewer_resizes_the_desktop_types_and_shares_the_clipboard(stack, watched):
    page = watched.page
    stack.sign_in(page, "alice")
    watched.reset()
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop, protocol="novnc")
    # resizeSession: the desktop takes the size of the viewer's screen area.
    screen = page.locator("#screen").bounding_box()
    page.wait_for_function(
        "([w, h]) => [...document.querySelectorAll('#screen canvas')].some(c => c.width === w && c.height === h)",
        arg=[int(screen["width"]), int(screen["height"])],
        timeout=10_000,
    )

    open_terminal(stack, page, desktop)
    page.keyboard.type("echo hello-novnc-$((6*7)) > /tmp/viewer-novnc\n")
    assert file_in(stack, desktop, "/tmp/viewer-novnc", "hello-novnc-42") == "hello-novnc-42"
    page.keyboard.type("echo ")
    type_german(page)  # through the text field to noVNC's keyboard, each key once
    page.keyboard.type(" > /tmp/viewer-novnc-german\n")
    assert file_in(stack, desktop, "/tmp/viewer-novnc-german", "grüß@€") == "grüß@€"
    type_without_key_events(page, "/tmp/viewer-novnc-no-keys")
    assert file_in(stack, desktop, "/tmp/viewer-novnc-no-keys", TEXT_WITHOUT_KEYS) == TEXT_WITHOUT_KEYS
    paste_through_the_panel(page, "echo pasted-over-novnc > /tmp/viewer-novnc-pasted")
    assert file_in(stack, desktop, "/tmp/viewer-novnc-pasted", "pasted-over-novnc") == "pasted-over-novnc"
    copy_from_the_terminal(page, "copied-over-novnc")
    assert watched.problems() == []


# guacamole-common-js's display element (the screen's first child) has the desktop's size times
# its scale; the viewer fits it into the screen area.
DISPLAY_FILLS_SCREEN = """() => {
  const screen = document.querySelector('#screen');
  const box = screen.firstElementChild.getBoundingClientRect();
  return Math.round(box.width) === screen.clientWidth && Math.round(box.height) === screen.clientHeight;
}"""


def desktop_size(stack: Stack, desktop: dict) -> tuple[int, int]:
    """The X screen's size inside the desktop, as its programs see it."""
    container = stack.docker.containers.get(desktop["container_id"])
    code, output = container.exec_run(["xrandr", "--current"], user="user", environment={"DISPLAY": ":1"})
    assert code == 0, output
    found = re.search(rb"current (\d+) x (\d+)", output)
    return int(found[1]), int(found[2])


def screen_size(page: Page) -> tuple[int, int]:
    """The viewer's screen area in CSS pixels: the size the viewer asks for."""
    return tuple(
        page.evaluate(
            "() => [document.querySelector('#screen').clientWidth, document.querySelector('#screen').clientHeight]"
        )
    )


def seconds_until_desktop_is(stack: Stack, desktop: dict, size: tuple[int, int], timeout: float = 5) -> float:
    started = time.monotonic()
    while (now := time.monotonic()) - started < timeout:
        if desktop_size(stack, desktop) == size:
            return now - started
        time.sleep(0.05)
    raise AssertionError(f"the desktop is {desktop_size(stack, desktop)}, not {size}, after {timeout} s")


def test_the_desktop_follows_the_guacamole_viewers_window(stack, browser):
    """guacd 1.3 only scales the picture: the broker resizes the desktop for the owner, a watcher's
    window changes nothing."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        stack.sign_in(page, "alice")
        desktop = stack.running_desktop(page)
        stack.open_viewer(page, desktop)
        seconds_until_desktop_is(stack, desktop, screen_size(page))  # the window it opened in
        latencies = []
        for viewport in ({"width": 1000, "height": 700}, {"width": 1441, "height": 901}, {"width": 800, "height": 600}):
            page.set_viewport_size(viewport)
            latencies.append(seconds_until_desktop_is(stack, desktop, screen_size(page)))
            # and the viewer draws it at that size: no bars, no scaling
            page.wait_for_function(DISPLAY_FILLS_SCREEN, timeout=5_000)
        print("resize latencies (window change -> desktop resized):", [f"{s:.2f} s" for s in latencies])
        assert max(latencies) < 2.0, latencies

        owners = desktop_size(stack, desktop)
        watcher_context = browser.new_context(viewport={"width": 700, "height": 500})
        try:
            watcher = watcher_context.new_page()
            stack.sign_in(watcher, "adam")
            stack.open_viewer(watcher, desktop, mode="view")
            watcher.set_viewport_size({"width": 900, "height": 650})
            watcher.wait_for_timeout(2000)
            assert desktop_size(stack, desktop) == owners
        finally:
            watcher_context.close()
    finally:
        context.close()


def test_an_admin_watches_view_only_and_cannot_type(stack, page, browser):
    stack.sign_in(page, "alice")
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop)  # the owner's connection, which the watcher joins

    admin = browser.new_context(viewport=VIEWPORT)
    watcher = admin.new_page()
    try:
        stack.sign_in(watcher, "adam")
        stack.open_viewer(watcher, desktop, mode="view")
        expect(watcher.locator("#view-only-badge")).to_have_text("View only")
        watcher.focus("#screen")
        watcher.keyboard.type("echo typed-by-the-watcher > /tmp/viewer-watcher\n")
        assert file_in(stack, desktop, "/tmp/viewer-watcher", "typed-by-the-watcher", timeout=3) == ""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        watcher.screenshot(path=str(ARTIFACTS / "test_an_admin_watches_view_only_watcher.png"))
    finally:
        admin.close()


# Sampled pixels of the screen's largest canvas in an 80 x 80 square around a point of the page.
PATCH = """([x, y]) => {
  const canvas = [...document.querySelectorAll('#screen canvas')]
    .sort((a, b) => b.width * b.height - a.width * a.height)[0];
  const box = canvas.getBoundingClientRect();
  const cx = Math.round((x - box.left) * canvas.width / box.width);
  const cy = Math.round((y - box.top) * canvas.height / box.height);
  return Array.from(canvas.getContext('2d').getImageData(cx - 40, cy - 40, 80, 80).data.filter((_, i) => i % 16 === 0));
}"""


def long_press(page: Page, x: float, y: float) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    page.wait_for_timeout(800)  # Guacamole.Mouse.Touchscreen: a long press is a right click
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_on_a_tablet_touch_clicks_and_the_keyboard_button_types(stack, browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    page = context.new_page()
    try:
        stack.sign_in(page, "alice")
        desktop = stack.running_desktop(page)
        stack.open_viewer(page, desktop)
        open_terminal(stack, page, desktop)  # in the top left corner

        screen = page.locator("#screen").bounding_box()
        x, y = screen["x"] + screen["width"] * 0.7, screen["y"] + screen["height"] * 0.5  # desktop background
        before = page.evaluate(PATCH, [x, y])
        long_press(page, x, y)  # xfdesktop opens its menu where it was right-clicked
        page.wait_for_function(
            f"(before) => JSON.stringify(({PATCH})([{x}, {y}])) !== JSON.stringify(before)", arg=before, timeout=10_000
        )
        page.keyboard.press("Escape")

        page.get_by_role("button", name="Keyboard").tap()
        expect(page.locator(".text-input")).to_be_focused()
        page.keyboard.insert_text("echo typed-on-a-tablet > /tmp/viewer-tablet")  # as on-screen keyboards do
        page.keyboard.press("Enter")
        assert file_in(stack, desktop, "/tmp/viewer-tablet", "typed-on-a-tablet") == "typed-on-a-tablet"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_on_a_tablet_touch_clicks_and_the_keyboard_button_types.png"))
    finally:
        context.close()


def test_the_viewer_reconnects_when_guacd_restarts(stack, page):
    stack.sign_in(page, "alice")
    stack.open_viewer(page, stack.running_desktop(page))
    stack.guacd.restart(timeout=1)
    expect(page.locator("#viewer")).to_have_attribute("data-state", "reconnecting", timeout=20_000)
    expect(page.locator("#state")).to_have_text("Reconnecting")
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=40_000)
    page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=20_000)


def test_a_desktop_stopped_while_watched_is_explained(stack, page):
    stack.sign_in(page, "alice")
    stack.open_viewer(page, stack.running_desktop(page))
    stack.api(page, "POST", "/api/container/stop?desktop_type=xfce")
    expect(page.locator(".overlay-message")).to_have_text(
        "The desktop was stopped. Start it again on the start page.", timeout=40_000
    )
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    expect(page.get_by_role("button", name="Try again")).to_be_focused()


def test_a_disabled_account_is_told_why_its_connection_ended(stack, page):
    stack.sign_in(page, "bob")
    desktop = stack.api(page, "POST", "/api/container/start?desktop_type=base")
    page.goto(f"{stack.proxy.url}/desktops/{desktop['id']}/view")
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
    subprocess.run(
        [sys.executable, "-m", "broker", "users", "disable", "bob"],
        env=stack.broker.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    expect(page.locator(".overlay-message")).to_have_text(
        "Your account was disabled, so this connection ended.", timeout=5_000
    )
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    page.wait_for_timeout(3_000)  # and it stays so: no reconnecting with a session that has ended
    expect(page.locator("#viewer")).to_have_attribute("data-state", "error")
    page.locator("#language-button").click()
    expect(page.locator(".overlay-message")).to_have_text(
        "Ihr Konto wurde gesperrt; die Verbindung wurde deshalb beendet."
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_a_disabled_account_is_told_why_its_connection_ended.png"))
