"""Accessibility and tablet use of every page (tests/pages/app_pages.py) in headless Chromium: axe-core
finds no serious or critical violation (with the default colours and with a light brand colour an
admin might pick); on a 768×1024 touch screen nothing overflows sideways and the main controls are
on screen, big enough and not covered; Tab reaches the main controls, each with a focus ring that
stands out from what is behind it. Screenshots: tests/artifacts/."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from broker.branding.colours import contrast
from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.pages import PASSWORD, WEB
from tests.pages.app_pages import PAGES, AppPage, open_page

pytestmark = pytest.mark.usefixtures("built_viewer")

AXE = (WEB / "node_modules" / "axe-core" / "axe.min.js").read_text()
TABLET = {"viewport": {"width": 768, "height": 1024}, "has_touch": True, "is_mobile": True, "locale": "en-US"}
MAX_TABS = 80


def axe_violations(page: Page) -> list[str]:
    """Serious and critical findings of axe-core, loaded by the test tool, so the page's CSP does not apply."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE)
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:5])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def each_view(page: Page, app_page: AppPage):
    """The page as opened, then each of its other views."""
    yield "opened"
    for view in app_page.views:
        page.locator(view).click()
        yield view


@pytest.fixture
def light_brand(app_broker):
    """A pale primary colour and a white accent for the test, then the defaults again."""
    admin = requests.Session()
    token = admin.post(
        app_broker.url + "/api/auth/local/login", timeout=10, json={"username": "ada", "password": PASSWORD}
    ).json()["session_token"]
    admin.headers["Authorization"] = f"Bearer {token}"
    answer = admin.patch(
        app_broker.url + "/api/admin/branding",
        timeout=10,
        json={"primary_colour": "#fff3a0", "accent_colour": "#ffffff", "app_name": "Helle Schule"},
    )
    assert answer.ok, answer.text
    yield
    assert admin.delete(app_broker.url + "/api/admin/branding", timeout=10).ok


@pytest.mark.parametrize("app_page", PAGES, ids=lambda p: p.name)
def test_axe_finds_nothing_serious(app_broker, watched, app_page: AppPage):
    page = watched.page
    open_page(page, app_broker, app_page)
    for view in each_view(page, app_page):
        assert axe_violations(page) == [], view


@pytest.mark.parametrize(
    "app_page", [p for p in PAGES if p.name in ("sign-in", "dashboard", "viewer", "branding")], ids=lambda p: p.name
)
def test_a_light_brand_colour_keeps_every_text_readable(app_broker, light_brand, watched, app_page: AppPage):
    page = watched.page
    open_page(page, app_broker, app_page)
    expect(page).to_have_title(re.compile("Helle Schule$"))
    assert axe_violations(page) == []


@pytest.mark.parametrize("app_page", PAGES, ids=lambda p: p.name)
def test_on_a_tablet_nothing_overflows_and_the_main_controls_can_be_tapped(app_broker, browser, app_page: AppPage):
    context = browser.new_context(**TABLET)
    page = context.new_page()
    try:
        open_page(page, app_broker, app_page)
        for view in each_view(page, app_page):
            width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{view}: the page is {width[0]} px wide on a {width[1]} px screen"
        open_page(page, app_broker, app_page)  # the first view again, for its controls
        for selector in app_page.controls:
            target = page.locator(selector)
            if target.evaluate("(e) => e.classList.contains('sr-only')"):  # a file input: its label is tapped
                target = page.locator(f"label[for={target.get_attribute('id')}]")
            target.scroll_into_view_if_needed()
            box = target.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 768, (selector, box)
            assert box["width"] >= 24 and box["height"] >= 24, (selector, box)  # WCAG 2.5.8 target size
            on_top = target.evaluate("""(e) => { const r = e.getBoundingClientRect();
                const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                return e === hit || e.contains(hit) || (e.labels && [...e.labels].some((l) => l.contains(hit))); }""")
            assert on_top, f"{selector} is covered"
        page.locator("#language-button").tap()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        page.screenshot(path=str(ARTIFACTS / f"tablet_{app_page.name}.png"), full_page=True)
    finally:
        context.close()


def _hex(css_colour: str) -> str:
    channels = [int(float(c)) for c in re.findall(r"[\d.]+", css_colour)[:3]]
    return "#" + "".join(f"{c:02x}" for c in channels)


# The focused element's focus ring (or its label's, for a visually hidden input) and the first opaque
# background behind it.
_FOCUS = """() => {
  let e = document.activeElement;
  if (e.classList.contains("sr-only") && e.labels?.length) e = e.labels[0];
  const style = getComputedStyle(e);
  let back = e.parentElement;
  const clear = (e) => /^rgba\\(.*, 0\\)$|transparent/.test(getComputedStyle(e).backgroundColor);
  while (back && clear(back)) back = back.parentElement;
  return { id: document.activeElement.id, style: style.outlineStyle, width: parseFloat(style.outlineWidth),
           colour: style.outlineColor, behind: back ? getComputedStyle(back).backgroundColor : "rgb(255, 255, 255)" };
}"""


@pytest.mark.parametrize("app_page", PAGES, ids=lambda p: p.name)
def test_tab_reaches_the_main_controls_with_a_visible_focus(app_broker, watched, app_page: AppPage):
    page = watched.page
    open_page(page, app_broker, app_page)
    wanted = app_page.controls
    for selector in wanted:
        page.locator(selector).wait_for()
    reached: dict[str, dict] = {}
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        for selector in wanted:
            # By selector, not by element: a live update may draw a control anew (keeping its focus).
            if selector not in reached and page.evaluate("(s) => !!document.activeElement?.matches(s)", selector):
                reached[selector] = page.evaluate(_FOCUS)
        if len(reached) == len(wanted):
            break
    assert set(reached) == set(wanted), f"never reached by Tab: {set(wanted) - set(reached)}"
    for selector, focus in reached.items():
        assert focus["style"] != "none" and focus["width"] >= 2, (selector, focus)
        ratio = contrast(_hex(focus["colour"]), _hex(focus["behind"]))
        assert ratio >= 3, f"{selector}: focus ring {focus['colour']} on {focus['behind']} is {ratio:.1f}:1"
