"""Files dropped on the viewer's screen go into the person's home (folder `Downloads`) through
the file API, with progress; a watcher's drop uploads nothing. Real parts throughout: the stack of
test_viewer_end_to_end (single sign-on, `broker serve`, an xfce desktop, guacd, the proxy) and
headless Chromium, with the drag and drop dispatched as the browser would."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.viewer.test_viewer_end_to_end import Stack, stack  # noqa: F401  (the module's fixture)

pytestmark = pytest.mark.usefixtures("built_viewer")

# Every text the drop status shows, in order (the progress passes quickly).
WATCH_STATUS = """() => {
  window.dropTexts = [];
  const status = document.getElementById('drop-status');
  new MutationObserver(() => window.dropTexts.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
}"""

MAKE_FILE = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, { type: 'text/plain' }));
  return data;
}"""


def drag_and_drop(page: Page, name: str, text: str, screenshot: str = "") -> None:
    data = page.evaluate_handle(MAKE_FILE, [name, text])
    page.dispatch_event("#screen", "dragenter", {"dataTransfer": data})
    page.dispatch_event("#screen", "dragover", {"dataTransfer": data})
    expect(page.locator("#drop-hint")).to_be_visible()
    if screenshot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"))
    page.dispatch_event("#screen", "drop", {"dataTransfer": data})
    expect(page.locator("#drop-hint")).to_be_hidden()


def download(live: Stack, page: Page, path: str):
    return page.context.request.get(f"{live.proxy.url}/api/files/home/download?path={path}")


def test_dropped_files_arrive_in_downloads_with_progress(stack, page):  # noqa: F811
    stack.sign_in(page, "alice")
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop)
    page.evaluate(WATCH_STATUS)
    name = f"dropped-{secrets.token_hex(4)}.txt"
    text = "Grüße aus dem Browser\n" + "0123456789abcdef" * 200_000  # about 3 MB: progress to show

    drag_and_drop(page, name, text, screenshot="test_drop_files_hint")

    status = page.locator("#drop-status")
    expect(status).to_have_attribute("data-state", "done", timeout=30_000)
    expect(status).to_have_text("1 file(s) uploaded to “Downloads”.")
    page.screenshot(path=str(ARTIFACTS / "test_drop_files_done.png"))
    shown = page.evaluate("() => window.dropTexts")
    assert any(re.fullmatch(r"Uploading 1 file\(s\) to “Downloads”: .+ of 3\.1 MB", seen) for seen in shown), shown

    listing = page.context.request.get(f"{stack.proxy.url}/api/files/home/list?path=Downloads").json()
    assert name in [entry["name"] for entry in listing["entries"]], listing
    answer = download(stack, page, f"Downloads/{name}")
    assert answer.ok, answer.text()
    assert answer.body() == text.encode()
    # … and inside the desktop, for its user, in ~/Downloads.
    container = stack.docker.containers.get(desktop["container_id"])
    code, inside = container.exec_run(["sh", "-c", f'cat "$HOME/Downloads/{name}"'], user="user")
    assert code == 0 and inside == text.encode()

    # The same name again: the server refuses it (no replacing), and the viewer says why.
    drag_and_drop(page, name, "other")
    expect(status).to_have_attribute("data-state", "failed", timeout=15_000)
    expect(status).to_contain_text("Upload failed: Something with that name exists already.")
    assert download(stack, page, f"Downloads/{name}").body() == text.encode()


def test_the_person_chooses_the_folder_from_the_toolbar(stack, page):  # noqa: F811
    stack.sign_in(page, "alice")
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop)
    button = page.locator("#drop-folder-button")
    expect(button).to_have_text("Drop folder: Downloads")
    button.click()
    page.fill("#drop-folder-input", "school/inbox")
    page.get_by_role("button", name="OK").click()
    expect(button).to_have_text("Drop folder: school/inbox")
    name = f"chosen-{secrets.token_hex(4)}.txt"

    drag_and_drop(page, name, "into the chosen folder")

    expect(page.locator("#drop-status")).to_have_text("1 file(s) uploaded to “school/inbox”.", timeout=15_000)
    assert download(stack, page, f"school/inbox/{name}").body() == b"into the chosen folder"
    page.reload()  # the choice is kept in this browser
    expect(button).to_have_text("Drop folder: school/inbox")


def test_a_watcher_cannot_drop_files(stack, page, browser):  # noqa: F811
    stack.sign_in(page, "alice")
    desktop = stack.running_desktop(page)
    stack.open_viewer(page, desktop)  # the owner's connection, which the watcher joins

    admin = browser.new_context(viewport=VIEWPORT)
    watcher = admin.new_page()
    try:
        stack.sign_in(watcher, "adam")
        stack.open_viewer(watcher, desktop, mode="view")
        expect(watcher.locator("#drop-folder-button")).to_be_hidden()
        uploads = []
        watcher.on("request", lambda request: "/api/files/" in request.url and uploads.append(request.url))
        name = f"watcher-{secrets.token_hex(4)}.txt"

        drag_and_drop(watcher, name, "from the watcher")

        status = watcher.locator("#drop-status")
        expect(status).to_have_text("You are only watching: files cannot be dropped here.")
        watcher.wait_for_timeout(1000)
        assert uploads == []
        assert download(stack, page, f"Downloads/{name}").status == 404
    finally:
        admin.close()
