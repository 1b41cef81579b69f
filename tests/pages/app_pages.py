"""Every page of the web app, for the tests that go through all of them (languages, accessibility,
tablet, keyboard, authorisation): a new page is one more line in PAGES. People are those of the
`app_broker` fixture (tests/fixtures/pages.py): ada (admin), tess (teacher), uwe; None: signed out."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

from broker.models import User
from tests.fixtures.pages import sign_in_page


@dataclass(frozen=True)
class AppPage:
    name: str
    path: str
    person: str | None
    ready: str  # shown once the page's script has filled the page in
    controls: tuple[str, ...]  # the main controls: reached by Tab, usable on a tablet
    views: tuple[str, ...] = ()  # clicked one after the other to show the page's other parts (tabs)
    failing: tuple[str, ...] = ()  # loads that fail on purpose (URL parts; see Watched.problems)


ADMIN_TABS = tuple(
    f"#tab-{section}"
    for section in ("overview", "desktops", "connections", "history", "recordings", "audit", "users", "catalog")
)

PAGES = [
    AppPage(
        "sign-in",
        "/",
        None,
        "#language-button:not(:empty)",
        ("#username", "#password", "#local-login [type=submit]", "#language-button"),
    ),
    AppPage(
        "dashboard",
        "/",
        "uwe",
        ".desktop-card[data-type=office] .status",
        (
            '.topbar a[href="/files"]',
            ".desktop-card[data-type=office] [data-action=start]",
            "#language-button",
            "#logout",
        ),
    ),
    AppPage(
        "files",
        "/files",
        "uwe",
        "#listing[aria-busy=false]",
        ("#tab-home", "#new-folder", "#file-input", "#language-button", "#logout"),
        views=("#tab-public",),
    ),
    AppPage(
        "viewer",
        "/desktops/no-such-desktop/view",
        "uwe",
        "#viewer[data-state=error] .overlay-actions button",
        ('.toolbar a[href="/"]', "#clipboard-button", "#fullscreen-button", "#language-button"),
        failing=("/connect",),
    ),
    AppPage(  # where the dashboard's Start leads: this type's image is missing, so the start is refused
        "viewer-start",
        "/start/office",
        "uwe",
        "#viewer[data-state=error] .overlay-actions button",
        ('.toolbar a[href="/"]', "#clipboard-button", "#fullscreen-button", "#language-button"),
        failing=("/api/container/start",),
    ),
    AppPage(
        "admin",
        "/admin",
        "ada",
        "[role=tab][aria-selected=true]",
        ("#tab-overview", "#branding-link", "#language-button", "#logout"),
        views=ADMIN_TABS[1:],
    ),
    AppPage(
        "branding",
        "/admin/branding",
        "ada",
        "#preview-name:not(:empty)",
        (
            "#name-input",
            "#primary-input",
            "#accent-input",
            "#save",
            "#logo-upload",
            "#favicon-upload",
            "#reset",
            "#language-button",
        ),
    ),
    AppPage(
        "classroom",
        "/classroom",
        "tess",
        "#screens[aria-busy=false]",
        ("#group-select", "#assign-type", "#assign-target", "#assign-button", "#language-button"),
    ),
    AppPage(
        "error",
        "/no-such-page",
        None,
        "#language-button:not(:empty)",
        ('main a[href="/"]', "#language-button"),
        failing=("/no-such-page",),
    ),
]


def open_page(page: Page, broker, app_page: AppPage) -> None:
    """Sign in as the page's person (or stay signed out), open it and wait until it is filled in.
    The person has no language picked (a toggle of an earlier test stored one): the browser's counts."""
    page.context.clear_cookies()
    if app_page.person:
        with broker.session() as db:
            db.query(User).filter_by(username=app_page.person).update({"language": None})
            db.commit()
        sign_in_page(page, broker, app_page.person)
    page.goto(broker.url + app_page.path)
    expect(page.locator(app_page.ready).first).to_be_attached(timeout=15_000)
