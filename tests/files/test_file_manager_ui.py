"""The file manager page (/files) in headless Chromium against `broker serve` with real Docker
volumes: uploads by drag and drop and by the file picker with progress, listing, a new folder,
rename, move, a byte-identical download, delete with confirmation, quota shown, errors in words,
and the public space read-only for a student. Screenshots: tests/artifacts/<test>.png."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from broker.desktops.naming import home_volume_name
from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.pages import PASSWORD, create_local_account, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")

DROP = """([zone, files]) => {
  const transfer = new DataTransfer();
  for (const [name, base64] of files) {
    transfer.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name));
  }
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def row(page, name):
    return page.locator(f"#entries tr[data-name='{name}']")


def test_upload_list_folder_rename_move_download_delete(desktop_broker, watched, tmp_path):
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "uma")
    sign_in_page(page, broker, "uma")
    page.goto(broker.url + "/")
    page.get_by_role("link", name="Files").click()
    expect(page).to_have_url(broker.url + "/files")
    expect(page.get_by_role("tab", name="My files")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#usage")).to_contain_text(" of ")
    expect(page.locator("#empty")).to_be_visible()

    dropped = os.urandom(300_000)
    zone = page.locator("#drop-zone").element_handle()
    page.evaluate(DROP, [zone, [["dropped.bin", b64(dropped)]]])
    expect(page.locator("#uploads li[data-name='dropped.bin']")).to_have_attribute("data-state", "done")
    expect(page.locator("#uploads li[data-name='dropped.bin'] progress")).to_have_attribute("value", "100")

    picked = tmp_path / "notes.txt"
    picked.write_text("Hallo Welt – äöü\n" * 1000)
    page.locator("#file-input").set_input_files(str(picked))
    expect(page.locator("#uploads li[data-name='notes.txt']")).to_have_attribute("data-state", "done")
    expect(row(page, "dropped.bin")).to_be_visible()
    expect(row(page, "notes.txt")).to_be_visible()
    expect(row(page, "dropped.bin").locator(".size")).to_have_text("293 KB")

    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("Archiv")
    page.get_by_role("button", name="OK").click()
    expect(row(page, "Archiv")).to_have_attribute("data-type", "folder")

    row(page, "notes.txt").get_by_role("button", name="Rename").click()
    page.get_by_label("New name").fill("readme.txt")
    page.keyboard.press("Enter")
    expect(row(page, "readme.txt")).to_be_visible()
    expect(row(page, "notes.txt")).to_have_count(0)

    with page.expect_download() as info:
        row(page, "dropped.bin").get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == "dropped.bin"
    assert hashlib.sha256(Path(download.path()).read_bytes()).hexdigest() == hashlib.sha256(dropped).hexdigest()

    row(page, "readme.txt").get_by_role("button", name="Move").click()
    page.get_by_label("Move to folder").fill("Archiv")
    page.get_by_role("button", name="OK").click()
    expect(row(page, "readme.txt")).to_have_count(0)
    row(page, "Archiv").get_by_role("button", name="Open folder Archiv").click()
    expect(page.locator("#breadcrumbs-list [aria-current]")).to_have_text("Archiv")
    expect(row(page, "readme.txt")).to_be_visible()

    row(page, "readme.txt").get_by_role("button", name="Rename").click()  # a name with a path in it: refused in words
    page.get_by_label("New name").fill("../escape")
    page.get_by_role("button", name="OK").click()
    expect(page.locator("#files-error")).to_have_text("That name or path is not allowed.")

    page.locator("#breadcrumbs-list").get_by_role("button", name="Top").click()
    row(page, "dropped.bin").get_by_role("button", name="Delete").click()
    expect(page.locator("#dialog-message")).to_contain_text("dropped.bin")
    page.get_by_role("button", name="Cancel").click()
    expect(row(page, "dropped.bin")).to_be_visible()
    row(page, "dropped.bin").get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="OK").click()
    expect(row(page, "dropped.bin")).to_have_count(0)
    assert watched.problems(expected_failures=("/api/files/home/rename",)) == []


def test_the_public_space_is_writable_for_teachers_and_read_only_for_students(desktop_broker, watched, browser):
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "tilda", "teacher")
    create_local_account(broker, "stan")
    sign_in_page(page, broker, "tilda")
    page.goto(broker.url + "/files")
    page.get_by_role("tab", name="Public").click()
    expect(page.locator("#listing")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#read-only")).to_be_hidden()
    page.evaluate(DROP, [page.locator("#drop-zone").element_handle(), [["worksheet.txt", b64(b"Aufgabe 1")]]])
    expect(row(page, "worksheet.txt")).to_be_visible()

    student = browser.new_context(locale="de-DE").new_page()
    try:
        sign_in_page(student, broker, "stan")
        student.goto(broker.url + "/files")
        student.get_by_role("tab", name="Öffentlich").click()
        expect(student.locator("#read-only")).to_be_visible()
        expect(student.locator("#read-only")).to_have_text("Sie können diesen Bereich lesen, aber nicht ändern.")
        expect(row(student, "worksheet.txt")).to_be_visible()
        expect(row(student, "worksheet.txt").get_by_role("link", name="Herunterladen")).to_be_visible()
        expect(student.locator("#drop-zone")).to_be_hidden()
        expect(student.locator("#new-folder")).to_be_hidden()
        expect(row(student, "worksheet.txt").locator("button")).to_have_count(0)
        student.screenshot(path=str(ARTIFACTS / "file_manager_public_read_only_student.png"), full_page=True)
    finally:
        student.context.close()
    assert watched.problems() == []


def test_size_and_quota_refusals_are_explained_in_words(desktop_broker, watched):
    """The broker's limits here (tests/fixtures/pages.py): 512 KiB per file, 1 MiB per home."""
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "quinn")
    sign_in_page(page, broker, "quinn")
    page.goto(broker.url + "/files")
    expect(page.locator("#empty")).to_be_visible()
    zone = page.locator("#drop-zone").element_handle()

    page.evaluate(DROP, [zone, [["huge.bin", b64(bytes(600_000))]]])
    expect(page.locator("#uploads li[data-name='huge.bin']")).to_have_attribute("data-state", "failed")
    expect(page.locator("#files-error")).to_have_text("The file is too large.")

    for number in (1, 2, 3):
        page.evaluate(DROP, [zone, [[f"part{number}.bin", b64(bytes([number]) * 400_000)]]])
        expect(page.locator(f"#uploads li[data-name='part{number}.bin']")).to_have_attribute(
            "data-state", "failed" if number == 3 else "done"
        )
    expect(page.locator("#files-error")).to_have_text("There is not enough space left (quota reached).")
    expect(row(page, "part3.bin")).to_have_count(0)
    assert watched.problems(expected_failures=("/api/files/home/upload",)) == []


def test_a_home_too_big_to_count_or_list_whole_says_so(desktop_broker, watched, browser, docker_engine):
    """The broker's limits here (tests/fixtures/pages.py): 50 entries listed per folder, 100 counted per home."""
    page, broker = watched.page, desktop_broker
    create_local_account(broker, "bea")
    token = requests.post(
        broker.url + "/api/auth/local/login", json={"username": "bea", "password": PASSWORD}, timeout=10
    ).json()["session_token"]
    assert (
        requests.get(
            broker.url + "/api/files/home/list", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()["entries"]
        == []
    )  # makes the home volume
    home = Path(docker_engine.api.inspect_volume(home_volume_name(broker.instance, "local:bea"))["Mountpoint"])
    for number in range(120):  # as a desktop would, behind the file manager's back
        (home / f"note-{number:03d}.txt").write_text("x")

    sign_in_page(page, broker, "bea")
    page.goto(broker.url + "/files")
    expect(page.locator("#entries tr")).to_have_count(50)
    expect(page.locator("#incomplete")).to_have_text(
        "This folder holds more entries than the 50 shown here; all of them are there in your desktop."
    )
    expect(page.locator("#usage")).to_have_text("At least 100 B of 1 MB used (too many files to count them all)")
    expect(page.locator("#empty")).to_be_hidden()

    german = browser.new_context(locale="de-DE").new_page()
    try:
        sign_in_page(german, broker, "bea")
        german.goto(broker.url + "/files")
        expect(german.locator("#incomplete")).to_have_text(
            "Dieser Ordner enthält mehr als die 50 Einträge, die hier stehen; im Desktop sind alle da."
        )
        expect(german.locator("#usage")).to_contain_text("Mindestens")
    finally:
        german.context.close()
    assert watched.problems() == []
