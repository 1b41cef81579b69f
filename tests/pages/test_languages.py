"""German and English on every page (tests/pages/app_pages.py) in headless Chromium: after the toggle,
every visible text, label and the tab title is in the chosen language — each one is a string of
that language's table (web/src/strings.js), data (names, titles; marked translate="no" or code), or figures
— and no string of the other language is left; switching back works too. A German browser gets
German first, and a person's own choice wins over the browser's. The error page after a failed
single sign-on (a real OpenID provider) explains it in both languages, keeping the provider's words."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from broker.models import Desktop, DesktopType, Group, User
from tests.fixtures.broker import free_port
from tests.pages.app_pages import PAGES, AppPage, open_page

pytestmark = pytest.mark.usefixtures("built_viewer")

OTHER = {"en": "de", "de": "en"}

# Every visible text node and label, with where it is and whether it is marked as data.
_VISIBLE_TEXTS = """() => {
  const where = (e) => e.tagName.toLowerCase() + (e.id ? `#${e.id}` : "")
    + (typeof e.className === "string" && e.className ? `.${e.className.trim().split(/\\s+/).join(".")}` : "");
  // Options have no box of their own: they count when their list does.
  const visible = (e) => (e.closest("select") || e).checkVisibility({ visibilityProperty: true });
  const data = (e) => Boolean(e.closest('[translate="no"], code, kbd, samp'));
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const e = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.replace(/\\s+/g, " ").trim();
    if (text && !e.closest("script, style, noscript, template") && visible(e)) {
      found.push({ text, data: data(e), where: where(e) });
    }
  }
  for (const e of document.body.querySelectorAll("[aria-label], [title], [placeholder], img[alt]")) {
    if (!visible(e)) continue;
    for (const name of ["aria-label", "title", "placeholder", "alt"]) {
      const text = (e.getAttribute(name) || "").replace(/\\s+/g, " ").trim();
      if (text) found.push({ text, data: data(e), where: `${where(e)}[${name}]` });
    }
  }
  const app = document.querySelector('meta[name="application-name"]')?.content || "";
  found.push({ text: document.title.replace(` · ${app}`, ""), data: false, where: "title" });
  return found;
}"""

# What is left of a text once figures (numbers, dates, times, sizes) and punctuation are taken out.
_FIGURES = re.compile(r"\d[\d.,:/]*|\b(?:AM|PM|B|KiB|MiB|GiB|TiB)\b|[^\w]|_")


def _pattern(text: str) -> re.Pattern | None:
    """A string of the table as a pattern its uses match ({placeholders} stand for anything)."""
    parts = re.split(r"\{\w+\}", " ".join(text.split()))
    if not any(re.search(r"[^\W\d_]", part) for part in parts):
        return None  # nothing but placeholders: matches everything, says nothing
    return re.compile(".+?".join(re.escape(part) for part in parts), re.DOTALL)


def _patterns(texts) -> list[re.Pattern]:
    return [p for p in map(_pattern, set(texts)) if p]


def known_data(broker, lang: str) -> set[str]:
    """What the pages may show that is not a string of the tables: people, groups, desktop types."""
    with broker.session() as db:
        values = {"deskbroker", "admin", "teacher"}
        for user in db.query(User):
            values |= {user.username, user.display_name}
        for group in db.query(Group):
            values |= {group.key, group.name}
        for kind in db.query(DesktopType):
            values |= {kind.id, kind.image, getattr(kind, f"title_{lang}"), getattr(kind, f"description_{lang}")}
        # A desktop's stored reason (the admin's desktops list shows it as the engine said it).
        values |= {desktop.state_reason for desktop in db.query(Desktop)}
    return {value for value in values if value}


def language_problems(page: Page, strings: dict, lang: str, data: set[str]) -> list[str]:
    """Visible texts that are neither in `lang` nor data, and any string only the other language has."""
    own = _patterns(strings[lang].values())
    other_only = _patterns(set(strings[OTHER[lang]].values()) - set(strings[lang].values()))
    problems = []
    for item in page.evaluate(_VISIBLE_TEXTS):
        text, where = item["text"], item["where"]
        if item["data"] or text in data:
            continue
        if any(p.fullmatch(text) for p in other_only) and not any(p.fullmatch(text) for p in own):
            problems.append(f"{where}: {text!r} is {OTHER[lang]}")
        elif not any(p.fullmatch(text) for p in own) and re.search(r"[^\W\d_]", _FIGURES.sub("", text)):
            problems.append(f"{where}: {text!r} is not a string of {lang}")
    return problems


def in_language(page: Page, strings: dict, lang: str, data: set[str], seconds: float = 5.0) -> list[str]:
    """language_problems, once the page has settled (it may re-render after a switch or a load)."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    deadline = time.monotonic() + seconds
    while (problems := language_problems(page, strings, lang, data)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return problems


@pytest.mark.parametrize("app_page", PAGES, ids=lambda p: p.name)
def test_the_toggle_switches_every_visible_string(app_broker, watched, strings, app_page: AppPage):
    page = watched.page
    open_page(page, app_broker, app_page)
    english, german = known_data(app_broker, "en"), known_data(app_broker, "de")
    assert in_language(page, strings, "en", english) == []

    page.locator("#language-button").click()
    assert in_language(page, strings, "de", german) == []
    for view in app_page.views:
        page.locator(view).click()
        assert in_language(page, strings, "de", german) == [], view

    page.locator("#language-button").click()
    assert in_language(page, strings, "en", english) == []
    assert watched.problems(expected_failures=app_page.failing) == []


@pytest.mark.locale("de-DE")
def test_a_german_browser_gets_german_until_the_person_chooses_english(app_broker, watched, strings):
    page = watched.page
    by_name = {p.name: p for p in PAGES}
    open_page(page, app_broker, by_name["sign-in"])
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text(strings["de"]["login.heading"])
    expect(page).to_have_title(f"{strings['de']['login.title']} · deskbroker")

    open_page(page, app_broker, by_name["dashboard"])
    expect(page.locator("h1")).to_have_text(strings["de"]["dash.heading"])
    expect(page.locator(".desktop-card[data-type=office] h2")).to_have_text("Büro")
    page.locator("#language-button").click()
    expect(page.locator("h1")).to_have_text(strings["en"]["dash.heading"])
    expect(page.locator(".desktop-card[data-type=office] h2")).to_have_text("Office")

    page.goto(app_broker.url + "/files")  # the choice is remembered, on every page
    expect(page.locator("h1")).to_have_text(strings["en"]["files.heading"])
    page.context.clear_cookies()
    page.goto(app_broker.url + "/")
    expect(page.locator("h1")).to_have_text(strings["en"]["login.heading"])
    assert watched.problems() == []


@pytest.fixture
def sso_broker(tmp_path, oidc_provider_factory, live_broker_factory):
    """A broker whose sign-in goes through a real OpenID provider (tests/oidc) as `.provider`."""
    port = free_port()
    provider = oidc_provider_factory(redirect_uris=[f"http://127.0.0.1:{port}/api/auth/authorize"])
    broker = live_broker_factory(
        f"sqlite:///{tmp_path / 'sso.db'}",
        port=port,
        oidc_client_id=provider.client_id,
        oidc_client_secret=provider.client_secret,
        oidc_discovery_url=provider.discovery_url,
    )
    broker.provider = provider
    return broker


@pytest.mark.locale("de-DE")
def test_a_failed_single_sign_on_is_explained_in_both_languages(sso_broker, watched, strings):
    page, de, en = watched.page, strings["de"], strings["en"]
    message = page.locator("#error-message")
    sso_broker.provider.stop()  # the provider is down: its name (settings) is in the sentence
    page.goto(sso_broker.url + "/")
    page.locator("#sso").click()
    expect(page.locator("h1")).to_have_text(de["errorPage.heading"])
    expect(page).to_have_title(f"{de['errorPage.title']} · deskbroker")
    expect(message).to_have_text(de["errorPage.provider_unreachable"].format(provider="IServ"))
    assert in_language(page, strings, "de", set()) == []

    sso_broker.provider.start()
    page.goto(sso_broker.url + "/")
    page.locator("#sso").click()
    page.locator("#abort").click()  # on the provider's sign-in page: the person cancels
    reason = "End-User aborted interaction"  # the provider's error_description, in its own words
    expect(message).to_have_text(de["errorPage.provider_refused"].format(detail=reason))
    assert in_language(page, strings, "de", set()) == []
    page.locator("#language-button").click()
    expect(page.locator("h1")).to_have_text(en["errorPage.heading"])
    expect(message).to_have_text(en["errorPage.provider_refused"].format(detail=reason))
    assert in_language(page, strings, "en", set()) == []

    # The provider's words are text, never markup (the callback's query is anyone's to write).
    words = '<img id="injected" src="/x"> & "more"'
    page.goto(
        sso_broker.url + "/api/auth/authorize?" + urlencode({"error": "access_denied", "error_description": words})
    )
    expect(message).to_have_text(en["errorPage.provider_refused"].format(detail=words))
    expect(page.locator("#injected")).to_have_count(0)
    page.get_by_role("link", name=en["action.home"]).click()  # the choice holds on the next page
    expect(page.locator("h1")).to_have_text(en["login.heading"])
    assert watched.problems(expected_failures=("/api/auth/login", "/api/auth/authorize")) == []
