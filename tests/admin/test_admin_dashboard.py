"""The admin dashboard (/admin) in headless Chromium against `broker serve` on PostgreSQL, with real
desktops on Docker and guacd for real tunnels: the figures; other people's running desktops found by
search and filters, one stopped from its row and the rest by "stop all", and a change made elsewhere
arriving without a reload; a person's open viewer ended from the live connections, with the history
and the audit log showing it; people with roles and groups; the catalog editor's title and icon
showing on a person's dashboard. People and teachers are refused. Screenshots: tests/artifacts/."""

from __future__ import annotations

import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import select

from broker.desktops import make_provider
from broker.models import Group, User
from tests.admin.test_admin_catalog import png
from tests.desktops.test_dashboard import api_client
from tests.fixtures.broker import make_settings, start_live_broker
from tests.fixtures.browser import ARTIFACTS, VIEWPORT
from tests.fixtures.desktops import desktop_overrides, remove_everything_of, run_guacd
from tests.fixtures.pages import create_local_account, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")

ADMIN_GETS = [
    "/api/admin/stats",
    "/api/admin/containers",
    "/api/admin/connections",
    "/api/admin/audit",
    "/api/admin/users",
    "/api/admin/desktop-types",
]
ADMIN_CHANGES = [
    ("POST", "/api/admin/containers/stop-all"),
    ("PATCH", "/api/admin/desktop-types/base"),
    ("POST", "/api/admin/desktop-types"),
    ("DELETE", "/api/admin/desktop-types/base"),
]


@pytest.fixture(scope="module")
def admin_stack(tmp_path_factory, postgres, docker_engine, desktop_images):
    """`broker serve` with guacd on the desktop network; root (admin), tess (teacher), pia (in Klasse 5a)
    and max; the catalog synced from the images."""
    instance = "t" + secrets.token_hex(4)
    overrides = desktop_overrides(instance)
    make_provider(make_settings(**overrides)).ensure_network()
    try:
        with run_guacd(docker_engine, instance, overrides["desktop_network"]) as (_guacd, address):
            broker = start_live_broker(
                tmp_path_factory.mktemp("admin-e2e"), postgres.new_database(), **overrides, guacd_host=address
            )
            try:
                for name, roles in (("root", ("admin",)), ("tess", ("teacher",)), ("pia", ()), ("max", ())):
                    create_local_account(broker, name, *roles)
                with broker.session() as db:
                    pia = db.scalar(select(User).where(User.username == "pia"))
                    pia.groups.append(Group(key="5a", name="Klasse 5a"))
                    db.commit()
                root = api_client(broker, "root")
                deadline = time.monotonic() + 30
                while not any(
                    kind["id"] == "base"
                    for kind in root.get(broker.url + "/api/admin/desktop-types", timeout=10).json()["desktop_types"]
                ):
                    assert time.monotonic() < deadline, "the catalog was not synced from the images"
                    time.sleep(0.3)
                yield broker
            finally:
                broker.stop()
    finally:
        remove_everything_of(docker_engine, instance)


def start_desktops(broker, *usernames: str) -> dict[str, dict]:
    """Each person's base desktop, started at the same time."""

    def start(username: str) -> dict:
        answer = api_client(broker, username).post(broker.url + "/api/container/start?desktop_type=base", timeout=90)
        assert answer.ok, answer.text
        return answer.json()

    with ThreadPoolExecutor(len(usernames)) as workers:
        return dict(zip(usernames, workers.map(start, usernames)))


def confirm(page: Page, button: str, *expected_text: str) -> None:
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    for text in expected_text:
        expect(dialog).to_contain_text(text)
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_be_hidden()


def new_page(browser, username: str, broker) -> Page:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in_page(page, broker, username)
    return page


def test_an_admin_finds_stops_and_disconnects_other_peoples_desktops_live(admin_stack, watched, browser):
    page, broker = watched.page, admin_stack
    desktops = start_desktops(broker, "pia", "max")
    # Pia works in her desktop: a real viewer, a real tunnel through guacd.
    viewer = new_page(browser, "pia", broker)
    viewer.goto(f"{broker.url}/desktops/{desktops['pia']['id']}/view?protocol=guacamole&mode=control")
    expect(viewer.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=30_000)

    sign_in_page(page, broker, "root")
    page.goto(broker.url + "/")
    page.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(broker.url + "/admin#overview")
    page.evaluate("window.__notReloaded = true")  # gone if the page is ever loaded again
    expect(page.locator("#stat-running")).to_have_text("2")
    expect(page.locator("#stat-active-users")).to_have_text("2")
    expect(page.locator("#stat-live-connections")).to_have_text("1")
    expect(page.locator("#per-type-rows tr[data-key=base] td")).to_have_text(["2", "2", "1"])
    page.screenshot(path=str(ARTIFACTS / "admin-overview.png"), full_page=True)

    # Everyone's desktops: search and filters.
    page.get_by_role("tab", name="Desktops").click()
    rows = page.locator("#desktops-rows tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#desktops-rows tr[data-owner=pia]")).to_have_attribute("data-state", "running")
    page.get_by_label("Search by person or desktop type").fill("pi")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-owner", "pia")
    page.get_by_label("State").select_option("stopped")
    expect(rows).to_have_count(0)
    expect(page.locator("#desktops-empty")).to_be_visible()
    page.get_by_label("State").select_option("running")
    page.get_by_label("Search by person or desktop type").fill("")
    page.locator("#desktop-type").select_option("base")
    expect(rows).to_have_count(2)

    # Pia's live connection, ended: her viewer says so.
    page.get_by_role("tab", name="Live connections").click()
    live = page.locator("#live-rows tr")
    expect(live).to_have_count(1)
    expect(live.first).to_have_attribute("data-user", "pia")
    live.first.get_by_role("button", name="End pia’s connection").click()
    confirm(page, "End", "pia", "keeps running")
    expect(page.locator("#live-empty")).to_be_visible(timeout=15_000)
    expect(viewer.locator(".overlay-message")).to_have_text("The connection was ended by an administrator.")
    page.get_by_role("tab", name="Connection history").click()
    ended = page.locator("#history-rows tr[data-user=pia]")
    expect(ended).to_have_count(1)
    expect(ended.locator(".end-reason")).to_have_text("ended by an administrator")
    expect(page.locator("#history-pager .pager-status")).to_have_text("1–1 of 1")

    # Pia's desktop stopped from its row, Max's by "stop all"; both after a confirmation.
    page.get_by_role("tab", name="Desktops").click()
    pia_row, max_row = (
        page.locator("#desktops-rows tr[data-owner=pia]"),
        page.locator("#desktops-rows tr[data-owner=max]"),
    )
    pia_row.get_by_role("button", name="Stop pia’s desktop").click()
    confirm(page, "Stop", "pia")
    expect(pia_row).to_have_count(0, timeout=30_000)  # the filter shows running ones only
    page.get_by_label("State").select_option("")
    expect(pia_row).to_have_attribute("data-state", "stopped")
    page.get_by_role("button", name="Stop all desktops").click()
    confirm(page, "Stop all desktops", "(1 running)")
    expect(max_row).to_have_attribute("data-state", "stopped", timeout=30_000)
    expect(page.locator("#admin-notice")).to_have_text("1 desktop(s) stopped.")
    # Made elsewhere, it arrives by itself: Pia removes her desktop.
    assert api_client(broker, "pia").post(broker.url + "/api/container/remove?desktop_type=base", timeout=60).ok
    expect(pia_row).to_have_count(0)
    page.get_by_role("tab", name="Overview").click()
    expect(page.locator("#stat-total")).to_have_text("1")
    expect(page.locator("#stat-running")).to_have_text("0")
    expect(page.locator("#stat-live-connections")).to_have_text("0")

    # The audit log: who did it, paged and filtered.
    page.get_by_role("tab", name="Audit log").click()
    for action, target in (
        ("admin_connection_kill", None),
        ("admin_desktop_stop", desktops["pia"]["id"]),
        ("admin_desktops_stop_all", None),
        ("desktop_remove", desktops["pia"]["id"]),
    ):
        event = page.locator(f"#audit-rows tr[data-action={action}]").first
        expect(event).to_contain_text("root" if action.startswith("admin") else "pia")
        if target:
            expect(event.locator(".target")).to_have_text(target)
    page.get_by_label("Only this action").fill("admin_desktop_stop")
    expect(page.locator("#audit-rows tr")).to_have_count(1)
    expect(page.locator("#audit-pager .pager-status")).to_have_text("1–1 of 1")
    page.screenshot(path=str(ARTIFACTS / "admin-audit.png"), full_page=True)

    # People with their roles and groups.
    page.get_by_role("tab", name="People").click()
    page.get_by_label("Search by name or e-mail").fill("pia")
    person = page.locator("#users-rows tr")
    expect(person).to_have_count(1)
    expect(person.locator(".groups")).to_have_text("Klasse 5a")
    page.get_by_label("Search by name or e-mail").fill("tess")
    expect(person.locator(".roles")).to_have_text("Teacher")

    # The tabs work from the keyboard.
    page.get_by_role("tab", name="People").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Desktop types")).to_be_focused()
    expect(page.locator("#panel-catalog")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.get_by_role("tab", name="Overview")).to_have_attribute("aria-selected", "true")
    assert page.evaluate("window.__notReloaded === true")

    # On a tablet held upright the page does not spill sideways; wide tables scroll within.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.get_by_role("tab", name="Audit log").click()
    expect(page.locator("#audit-rows tr").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "admin-tablet.png"), full_page=True)
    viewer.context.close()
    assert watched.problems() == []


def test_the_catalog_editor_changes_what_people_see(admin_stack, watched, browser, strings):
    page, broker = watched.page, admin_stack
    sign_in_page(page, broker, "root")
    page.goto(broker.url + "/admin#catalog")
    base = page.locator("#catalog-rows tr[data-type=base]")
    base.locator("[data-action=edit]").click()
    dialog = page.locator("#type-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("Image")).to_be_disabled()  # the image's own
    page.get_by_label("Title (English)").fill("Schoolwork desktop")
    page.get_by_label("Title (German)").fill("Schul-Desktop")
    page.get_by_label("Memory (MB)", exact=True).fill("10")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#type-error")).to_contain_text("memory_mb is a whole number from 64")
    page.get_by_label("Memory (MB)", exact=True).fill("1536")
    sound = page.get_by_label("Sound", exact=True)
    expect(sound).to_be_checked()  # on by default
    sound.uncheck()
    page.get_by_label("Icon", exact=True).set_input_files(
        files=[{"name": "icon.png", "mimeType": "image/png", "buffer": png(16, 16, (20, 140, 60))}]
    )
    expect(dialog.locator("#type-icon-preview img")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.screenshot(path=str(ARTIFACTS / "admin-catalog-editor.png"), full_page=True)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(base.locator(".type-title")).to_have_text("Schoolwork desktop")
    expect(base.locator("img.type-icon")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(base).to_contain_text("1536 MB")
    expect(base).to_contain_text("no sound")
    expect(base).to_contain_text("Changed here: icon, memory_mb, sound, title_de, title_en")

    xfce = page.locator("#catalog-rows tr[data-type=xfce]")
    xfce.get_by_role("button", name="Disable").click()
    expect(xfce).to_have_attribute("data-enabled", "false")

    # A type of the admin's own, made and deleted again.
    page.get_by_role("button", name="New desktop type").click()
    page.get_by_label("Id", exact=True).fill("office")
    page.get_by_label("Image").fill("deskbroker/base:latest")
    page.get_by_label("Title (English)").fill("Office")
    page.get_by_label("Title (German)").fill("Büro")
    dialog.get_by_role("button", name="Save").click()
    office = page.locator("#catalog-rows tr[data-type=office]")
    expect(office).to_contain_text("Made by an admin")
    office.get_by_role("button", name="Delete").click()
    confirm(page, "Delete", "Office")
    expect(office).to_have_count(0)

    # Pia's dashboard shows the new title and icon, and no xfce.
    pia = new_page(browser, "pia", broker)
    pia.goto(broker.url + "/")
    card = pia.locator(".desktop-card[data-type=base]")
    expect(card.locator("h2")).to_have_text("Schoolwork desktop")
    expect(card.locator("img.type-icon")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(pia.locator(".desktop-card[data-type=xfce]")).to_have_count(0)
    pia.locator("#language-button").click()
    expect(card.locator("h2")).to_have_text("Schul-Desktop")
    pia.screenshot(path=str(ARTIFACTS / "admin-catalog-seen-by-a-person.png"), full_page=True)
    pia.context.close()
    xfce.get_by_role("button", name="Enable").click()
    expect(xfce).to_have_attribute("data-enabled", "true")

    page.locator("#language-button").click()  # every visible string switches
    expect(page.get_by_role("tab", name="Desktop-Typen")).to_have_attribute("aria-selected", "true")
    expect(base.locator(".type-title")).to_have_text("Schul-Desktop")
    texts = page.evaluate("""() => [...document.querySelectorAll('[data-i18n]')]
        .filter((e) => e.checkVisibility()).map((e) => [e.dataset.i18n, e.textContent])""")
    assert len(texts) > 20
    for key, text in texts:
        if "{" not in strings["de"][key]:
            assert text == strings["de"][key], key
    audit = api_client(broker, "root").get(broker.url + "/api/admin/audit?limit=500", timeout=10).json()["events"]
    actions = [e["action"] for e in audit if e["action"].startswith("admin_desktop_type")]
    assert sorted(set(actions)) == [
        "admin_desktop_type_create",
        "admin_desktop_type_delete",
        "admin_desktop_type_icon",
        "admin_desktop_type_update",
    ]
    assert watched.problems(expected_failures=("/api/admin/desktop-types/base",)) == []  # the refused memory


def test_people_and_teachers_are_refused(admin_stack, watched):
    page, broker = watched.page, admin_stack
    assert page.goto(broker.url + "/admin").url == broker.url + "/"  # not signed in: to the sign-in page
    for username in ("pia", "tess"):
        page.context.clear_cookies()
        sign_in_page(page, broker, username)
        answer = page.goto(broker.url + "/admin")
        assert answer.status == 403
        expect(page.locator("#error-message")).to_have_text("This page is for administrators.")
        page.goto(broker.url + "/")
        expect(page.locator("#display-name")).to_be_visible()
        expect(page.get_by_role("link", name="Admin")).to_have_count(0)
        request = page.context.request
        csrf = request.get(broker.url + "/api/auth/session").json()["csrf_token"]
        for path in ADMIN_GETS:
            assert request.get(broker.url + path).status == 403, (username, path)
        for method, path in ADMIN_CHANGES:
            refused = request.fetch(broker.url + path, method=method, headers={"X-CSRF-Token": csrf}, data={})
            assert refused.status == 403 and refused.json()["error"] == "forbidden", (username, path)
    assert requests.get(broker.url + "/api/admin/stats", timeout=10).status_code == 401
    assert watched.problems(expected_failures=("/admin",)) == []
