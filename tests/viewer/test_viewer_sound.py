"""The desktop's sound in the browser, every part real: a 1 kHz tone played inside a real xfce
desktop (pacat, as the desktop's user, into its PulseAudio) reaches guacd 1.3, the broker's tunnel
and the viewer, and is heard there: what the page sends to its speakers (an AnalyserNode tapped in
before the page's scripts run) has its energy at 1 kHz. Muted it is silent; a watcher's tunnel
carries no sound at all; a type an admin turned sound off for neither. The stack is
test_viewer_end_to_end's; Chromium runs with --autoplay-policy=no-user-gesture-required, as a
browser would after the person's first click."""

from __future__ import annotations

import math
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.viewer.test_viewer_end_to_end import Stack, stack  # noqa: F401  (the module's fixture)

pytestmark = pytest.mark.usefixtures("built_viewer")

TONE_HZ = 1000
RATE = 44100
AS_DESKTOP_USER = ["docker", "exec", "-i", "-u", "user", "-e", "XDG_RUNTIME_DIR=/run/user/1000", "-e", "LC_ALL=C"]

# Before any script of the page: every AudioContext gets an analyser that hears whatever is connected
# to its speakers (its destination), after the viewer's volume.
SOUND_TAP = """(() => {
  const Native = window.AudioContext;
  const connect = AudioNode.prototype.connect;
  window.__soundTaps = [];
  window.AudioContext = class extends Native {
    constructor(...args) {
      super(...args);
      this.__tap = this.createAnalyser();
      this.__tap.fftSize = 8192;
      this.__tap.smoothingTimeConstant = 0;
      window.__soundTaps.push(this.__tap);
    }
  };
  AudioNode.prototype.connect = function (target, ...rest) {
    const result = connect.call(this, target, ...rest);
    if (target instanceof AudioDestinationNode && this.context.__tap) connect.call(this, this.context.__tap);
    return result;
  };
})();"""

# What the speakers get right now: the level (dB) at `hz`, and the loudest frequency.
SPECTRUM = """(hz) => {
  const tap = window.__soundTaps[0];
  if (!tap) return null;
  const bins = new Float32Array(tap.frequencyBinCount);
  tap.getFloatFrequencyData(bins);
  const width = tap.context.sampleRate / tap.fftSize;
  let peak = 0;
  bins.forEach((level, i) => { if (level > bins[peak]) peak = i; });
  const finite = (level) => (Number.isFinite(level) ? level : -1000);
  return { level: finite(bins[Math.round(hz / width)]), peak_hz: peak * width, bin_hz: width,
           state: tap.context.state };
}"""
HEARD, SILENT = -60.0, -100.0  # dB: a tone at -12 dBFS shows near -20; a muted output shows nothing


@pytest.fixture(scope="module")
def sound_browser(browser):
    """A second Chromium from the same Playwright, allowed to play sound without a click first."""
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"], headless=True
    )
    yield chromium
    chromium.close()


@dataclass
class Listener:
    """A page with the sound tap, and what its tunnel brought of guacd's sound (`audio` instructions)."""

    page: Page
    sound: list[str] = field(default_factory=list)

    def note(self, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else payload.decode(errors="replace")
        if "5.audio," in text:
            self.sound.append(text[text.index("5.audio,") :][:60])


def listening_page(sound_browser) -> Listener:
    context = sound_browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(10_000)
    listener = Listener(context.new_page())
    listener.page.add_init_script(SOUND_TAP)
    listener.page.on("websocket", lambda ws: ws.on("framereceived", listener.note))
    return listener


def spectrum(page: Page) -> dict | None:
    return page.evaluate(SPECTRUM, TONE_HZ)


def wait_until(page: Page, heard: bool, timeout: float = 20.0) -> dict:
    """Polls the spectrum until the tone is heard (at TONE_HZ, and the loudest) or the output is silent."""
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        seen = spectrum(page)
        if seen and heard and seen["level"] > HEARD and abs(seen["peak_hz"] - TONE_HZ) <= 2 * seen["bin_hz"]:
            return seen
        if seen and not heard and seen["level"] < SILENT:
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"{'not heard' if heard else 'not silent'} within {timeout} s: {seen}")


@pytest.fixture
def tone(stack) -> Iterator[callable]:  # noqa: F811
    """play(container_id): a 1 kHz sine (S16LE, 44.1 kHz, stereo, -12 dBFS) into the desktop's sound
    server with pacat, as the desktop's user, until the test ends."""
    second = b"".join(
        struct.pack("<hh", sample, sample)
        for sample in (round(8192 * math.sin(2 * math.pi * TONE_HZ * i / RATE)) for i in range(RATE))
    )
    players: list[tuple[subprocess.Popen, threading.Event, str]] = []

    def play(container_id: str) -> None:
        as_user = [*AS_DESKTOP_USER, container_id]
        server = subprocess.run([*as_user, "pactl", "info"], capture_output=True, text=True)
        assert "Default Sink: desktop" in server.stdout, f"no sound server in the desktop: {server.stderr}"
        player = subprocess.Popen(
            [*as_user, "pacat", "--rate=44100", "--channels=2", "--format=s16le", "--latency-msec=100"],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        stop = threading.Event()

        def feed() -> None:  # pacat takes it as fast as it plays
            try:
                while not stop.is_set():
                    player.stdin.write(second)
                    player.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

        threading.Thread(target=feed, daemon=True).start()
        players.append((player, stop, container_id))

    yield play
    for player, stop, container_id in players:
        stop.set()
        player.kill()
        player.wait(5)
        subprocess.run(["docker", "exec", container_id, "pkill", "-x", "pacat"], capture_output=True)  # its buffer


def test_a_tone_inside_the_desktop_is_heard_in_the_browser_and_muting_silences_it(stack, sound_browser, tone):  # noqa: F811
    listener = listening_page(sound_browser)
    page = listener.page
    try:
        stack.sign_in(page, "bob")
        desktop = stack.running_desktop(page)
        stack.open_viewer(page, desktop)
        expect(page.locator("#sound-controls")).to_be_visible()
        mute = page.get_by_role("button", name="Mute")
        expect(mute).to_have_attribute("aria-pressed", "false")

        tone(desktop["container_id"])
        try:
            heard = wait_until(page, heard=True)
        except AssertionError as error:
            raise AssertionError(f"{error}; the tunnel brought {listener.sound[:3]}") from None
        print(f"heard: {heard}")
        assert heard["state"] == "running"
        assert "audio/L16;rate=44100,channels=2" in listener.sound[0], listener.sound
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_viewer_sound_toolbar.png"))

        mute.click()
        expect(mute).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("slider", name="Volume")).to_be_disabled()
        silent = wait_until(page, heard=False, timeout=5)
        page.wait_for_timeout(1500)  # and it stays so while the tone plays on
        assert spectrum(page)["level"] < SILENT, (silent, spectrum(page))

        page.reload()  # muted is remembered in this browser …
        expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
        mute = page.get_by_role("button", name="Mute")
        expect(mute).to_have_attribute("aria-pressed", "true")
        page.wait_for_timeout(2000)
        assert (spectrum(page) or {"level": -1000})["level"] < SILENT
        mute.click()  # … until the person turns it on again
        wait_until(page, heard=True)
        page.wait_for_timeout(1000)  # the analyser's window (0.19 s) full of the tone
        loud = spectrum(page)
        set_volume(page, 40)  # a quieter volume is quieter, and remembered
        page.wait_for_timeout(1000)
        quieter = wait_until(page, heard=True)
        assert page.evaluate("localStorage.getItem('deskbroker.sound')") == '{"muted":false,"volume":40}'
        assert quieter["level"] < loud["level"] - 4, (loud, quieter)  # 40 % instead of 80 %: about -6 dB
    finally:
        page.context.close()


def test_a_watcher_hears_nothing_and_a_type_without_sound_carries_none(stack, sound_browser, tone):  # noqa: F811
    owner, watcher = listening_page(sound_browser), listening_page(sound_browser)
    try:
        stack.sign_in(owner.page, "bob")
        desktop = stack.running_desktop(owner.page)
        stack.open_viewer(owner.page, desktop)
        stack.sign_in(watcher.page, "adam")
        stack.open_viewer(watcher.page, desktop, mode="view")  # joins the owner's connection, which has sound
        tone(desktop["container_id"])
        wait_until(owner.page, heard=True)
        watcher.page.wait_for_timeout(2000)
        expect(watcher.page.locator("#sound-controls")).to_be_hidden()
        assert owner.sound and watcher.sound == []  # the broker dropped guacd's sound for the watcher
        assert watcher.page.evaluate("window.__soundTaps.length") == 0  # and its page never made an output

        set_sound(stack, watcher.page, False)  # adam is an admin
        try:
            owner.sound.clear()
            owner.page.reload()
            expect(owner.page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)
            owner.page.wait_for_timeout(2000)
            expect(owner.page.locator("#sound-controls")).to_be_hidden()
            assert owner.sound == []
        finally:
            set_sound(stack, watcher.page, True)
    finally:
        owner.page.context.close()
        watcher.page.context.close()


def set_volume(page: Page, percent: int) -> None:
    """Moves the volume slider as a person's drag would end (an `input` event)."""
    page.eval_on_selector(
        "#volume", "(slider, value) => { slider.value = value; slider.dispatchEvent(new Event('input')); }", percent
    )


def set_sound(live: Stack, admin: Page, on: bool) -> None:
    request = admin.context.request
    csrf = request.get(live.proxy.url + "/api/auth/session").json()["csrf_token"]
    answer = request.patch(
        live.proxy.url + "/api/admin/desktop-types/xfce", data={"sound": on}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.ok and answer.json()["sound"] is on, answer.text()
