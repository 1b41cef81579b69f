"""Session recording end to end in headless Chromium, every part real: `broker serve` on PostgreSQL,
a base desktop (JWM and an xterm) on Docker, guacd hardened as in production (read-only, no
capabilities, user guacd) writing into the recordings directory the broker reads. A session of a type
that does not record leaves nothing; once an admin turns recording on, the person is told on the
card and sees the mark in the viewer, types a sentence into the terminal, and the admin plays the
recording on the admin page: the sentence is not there before the moment it was typed and is
there after it (the player's picture read by OCR, and compared with the recording's start), at
other speeds too. Playback and download are audited. Screenshots: tests/artifacts/."""

from __future__ import annotations

import io
import secrets
import subprocess
import time

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Page, expect

from broker.desktops import make_provider
from tests.desktops.test_dashboard import api_client
from tests.fixtures.broker import make_settings, start_live_broker
from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.fixtures.desktops import desktop_overrides, remove_everything_of, run_guacd
from tests.fixtures.pages import create_local_account, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")

SENTENCE = "echo Recorded sentence 42"
IDLE_BEFORE = 3.0  # seconds between the first frame and the first key typed
IDLE_AFTER = 2.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres, docker_engine, desktop_images):
    """`broker serve` with guacd writing into its recordings directory; root (admin) and pia."""
    instance = "t" + secrets.token_hex(4)
    overrides = desktop_overrides(instance)
    make_provider(make_settings(**overrides)).ensure_network()
    recordings = tmp_path_factory.mktemp("recordings-e2e") / "recordings"
    try:
        with run_guacd(docker_engine, instance, overrides["desktop_network"], recordings) as (_guacd, address):
            broker = start_live_broker(
                tmp_path_factory.mktemp("recordings-broker"),
                postgres.new_database(),
                **overrides,
                guacd_host=address,
                recording_dir=str(recordings),
            )
            try:
                create_local_account(broker, "root", "admin")
                create_local_account(broker, "pia")
                root = api_client(broker, "root")
                deadline = time.monotonic() + 30
                while not any(
                    kind["id"] == "base"
                    for kind in root.get(broker.url + "/api/admin/desktop-types", timeout=10).json()["desktop_types"]
                ):
                    assert time.monotonic() < deadline, "the catalog was not synced from the images"
                    time.sleep(0.3)
                broker.recordings = recordings
                yield broker
            finally:
                broker.stop()
    finally:
        remove_everything_of(docker_engine, instance)


def new_page(browser, username: str, broker) -> Page:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in_page(page, broker, username)
    return page


def open_viewer(page: Page, broker, desktop_id: str) -> float:
    """The viewer, connected and drawn; when it was (monotonic, polled every 50 ms: the recording's
    clock starts at that first frame, and the test's moments are measured from it)."""
    page.goto(f"{broker.url}/desktops/{desktop_id}/view?protocol=guacamole&mode=control")
    page.wait_for_function(
        "() => document.getElementById('viewer')?.dataset.state === 'connected'", polling=50, timeout=30_000
    )
    return time.monotonic()


def shown_in_viewer(page: Page, text: str, timeout: float = 30) -> float:
    """When the viewer's screen first reads `text` (monotonic): a busy machine may echo keys late."""
    deadline = time.monotonic() + timeout
    while True:
        read = text_in(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
        if text in read:
            return time.monotonic()
        assert time.monotonic() < deadline, f"the viewer never showed {text!r}: {read!r}"
        page.wait_for_timeout(200)


def recordings_of(broker) -> list[dict]:
    return api_client(broker, "root").get(broker.url + "/api/admin/recordings", timeout=10).json()["recordings"]


def ended_recording(broker) -> dict:
    deadline = time.monotonic() + 15
    while True:
        found = recordings_of(broker)
        if found and found[0]["ended_at"]:
            return found[0]
        assert time.monotonic() < deadline, f"the recording did not end: {found}"
        time.sleep(0.3)


def picture(page: Page) -> Image.Image:
    return Image.open(io.BytesIO(page.locator("#player-screen canvas").first.screenshot())).convert("RGB")


def text_in(image: Image.Image) -> str:
    """What tesseract reads in the picture (enlarged: xterm's 11-point font is small for it)."""
    big = image.resize((image.width * 2, image.height * 2), Image.LANCZOS)
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    return subprocess.run(
        ["tesseract", "stdin", "stdout", "--psm", "6"], input=buffer.getvalue(), capture_output=True, check=True
    ).stdout.decode(errors="replace")


def changed_pixels(a: Image.Image, b: Image.Image) -> int:
    difference = ImageChops.difference(a, b).convert("L").point(lambda value: 255 if value > 40 else 0)
    return difference.histogram()[255]


def seek(page: Page, seconds: float) -> None:
    """Where the slider can go: whole tenths of a second."""
    position_ms = round(seconds * 10) * 100
    page.eval_on_selector(
        "#player-seek", "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('change')); }", position_ms
    )
    expect(page.locator("#player-dialog")).to_have_attribute("data-position", str(position_ms))
    page.wait_for_timeout(300)  # drawn


def test_a_type_that_does_not_record_leaves_nothing(stack, browser):
    desktop = api_client(stack, "pia").post(stack.url + "/api/container/start?desktop_type=base", timeout=90).json()
    viewer = new_page(browser, "pia", stack)
    open_viewer(viewer, stack, desktop["id"])
    viewer.wait_for_timeout(1500)  # the events stream has told the viewer
    expect(viewer.locator("#recording-badge")).to_be_hidden()
    viewer.keyboard.type("echo not recorded\n", delay=30)
    viewer.context.close()
    time.sleep(1)
    assert recordings_of(stack) == []
    assert list(stack.recordings.iterdir()) == []


def test_the_sentence_typed_in_a_recorded_session_plays_back_at_its_time(stack, browser, watched):
    root = api_client(stack, "root")
    turned_on = root.patch(stack.url + "/api/admin/desktop-types/base", json={"record_sessions": True}, timeout=10)
    assert turned_on.ok, turned_on.text

    # Pia is told on her dashboard's card, and sees the mark while connected.
    viewer = new_page(browser, "pia", stack)
    viewer.goto(stack.url + "/")
    card = viewer.locator(".desktop-card[data-type=base]")
    expect(card.locator(".notice.recorded")).to_have_text(
        "Sessions of this desktop are recorded. Administrators can play them back."
    )
    viewer.screenshot(path=str(ARTIFACTS / "recording-dashboard-notice.png"))
    desktop_id = api_client(stack, "pia").get(stack.url + "/api/container/list", timeout=10).json()["desktops"][0]["id"]
    connected = open_viewer(viewer, stack, desktop_id)
    expect(viewer.locator("#recording-badge")).to_be_visible()
    expect(viewer.locator("#recording-badge")).to_have_text("● Recording")
    viewer.screenshot(path=str(ARTIFACTS / "recording-viewer-mark.png"))
    viewer.wait_for_timeout(IDLE_BEFORE * 1000 - (time.monotonic() - connected) * 1000)
    typing_from = time.monotonic() - connected
    viewer.keyboard.type(SENTENCE, delay=40)
    viewer.keyboard.press("Enter")
    # Measured at the viewer, not at the keyboard: guacd records each frame before it sends it.
    typing_until = shown_in_viewer(viewer, "Recorded sentence 42") - connected
    viewer.wait_for_timeout(IDLE_AFTER * 1000)
    viewer.context.close()  # the session ends: guacd closes the file

    recording = ended_recording(stack)
    assert recording["user"] == "pia" and recording["desktop_type"] == "base" and recording["size_bytes"] > 0

    # The admin plays it on the admin page.
    page = watched.page
    sign_in_page(page, stack, "root")
    page.goto(stack.url + "/admin#recordings")
    row = page.locator(f"#recordings-rows tr[data-key='{recording['id']}']")
    expect(row).to_contain_text("pia")
    expect(page.locator("#recording-storage")).to_contain_text("1 files")
    page.screenshot(path=str(ARTIFACTS / "recording-admin-list.png"))
    row.get_by_role("button", name="Play").click()
    dialog = page.locator("#player-dialog")
    expect(dialog).to_have_attribute("data-state", "ready", timeout=30_000)
    duration = int(dialog.get_attribute("data-duration"))
    assert duration >= (typing_until + IDLE_AFTER - 1.5) * 1000, (duration, typing_until)

    seek(page, 0)
    start = picture(page)
    seek(page, typing_from - 1.0)
    before = picture(page)
    page.screenshot(path=str(ARTIFACTS / "recording-player-before.png"))
    seek(page, min(typing_until + 1.0, duration / 1000 - 0.2))
    after = picture(page)
    page.screenshot(path=str(ARTIFACTS / "recording-player-after.png"))
    assert "sentence" not in text_in(before)
    read = text_in(after)
    assert "Recorded sentence 42" in read, read
    assert changed_pixels(start, before) < changed_pixels(start, after) / 4, "the picture changed before the typing"

    # Play and pause, faster than it was: the position moves on by itself, the picture with it.
    seek(page, 0)
    page.select_option("#player-speed", "8")
    page.locator("#player-play").click()
    expect(dialog).to_have_attribute("data-playing", "true")
    page.wait_for_function(
        "(at) => Number(document.getElementById('player-dialog').dataset.position) > at",
        arg=int((typing_until + 0.5) * 1000),  # the viewer had drawn the echo by then
    )
    page.locator("#player-play").click()
    expect(dialog).to_have_attribute("data-playing", "false")
    assert "Recorded sentence 42" in text_in(picture(page))
    page.locator("#player-close").click()
    expect(dialog).to_be_hidden()
    assert watched.problems() == []

    # The switch in the catalog's editor, as the admin set it.
    page.get_by_role("tab", name="Desktop types").click()
    catalog_row = page.locator("#catalog-rows tr[data-type=base]")
    expect(catalog_row.locator(".badge.recorded")).to_have_text("Recorded")
    catalog_row.locator("[data-action=edit]").click()
    expect(page.locator("#type-record")).to_be_checked()
    page.locator("#type-record").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "recording-catalog-switch.png"))
    page.locator("#type-cancel").click()

    # Every playback is in the audit log; a download is too, and gives the same file.
    [listed] = recordings_of(stack)
    downloaded = root.get(f"{stack.url}/api/admin/recordings/{recording['id']}/download", timeout=10)
    assert downloaded.ok and len(downloaded.content) == listed["size_bytes"]
    assert downloaded.content.startswith(b"4.size,") or b"size," in downloaded.content[:200]
    events = root.get(stack.url + "/api/admin/audit?action=recording_play", timeout=10).json()["events"]
    assert [(e["actor"], e["target"]) for e in events] == [("root", recording["id"])]
    events = root.get(stack.url + "/api/admin/audit?action=recording_download", timeout=10).json()["events"]
    assert [(e["actor"], e["target"]) for e in events] == [("root", recording["id"])]
