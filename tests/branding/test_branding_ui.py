"""Branding end to end in headless Chromium against `broker serve`: an admin changes the app name,
colours, logo and favicon on /admin/branding (with a live preview), and another person's sign-in page,
dashboard, file manager and viewer show them at their next load, with no restart. Screenshots:
tests/artifacts/<test>.png."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.admin.test_admin_catalog import png
from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.pages import PASSWORD, sign_in_page

pytestmark = pytest.mark.usefixtures("built_viewer")

PRIMARY, ACCENT, NAME = "#7a1f5c", "#f0b429", "Gymnasium Nord"
LOGO, FAVICON = png(40, 20, (122, 31, 92)), png(16, 16, (240, 180, 41))


def rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


def style(page: Page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate(f"(e) => getComputedStyle(e).getPropertyValue('{prop}')")


def shows_the_branding(page: Page, broker, logo: str, title_part: str) -> None:
    """The tab title, the favicon link (fetched: the uploaded bytes) and the logo (drawn) of the page."""
    expect(page).to_have_title(f"{title_part} · {NAME}")
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert requests.get(broker.url + icon, timeout=10).content == FAVICON
    expect(page.locator(logo)).to_be_visible()
    assert page.locator(logo).evaluate("(img) => img.complete && img.naturalWidth") == 40


def test_an_admins_branding_reaches_every_page_of_another_person_without_a_restart(app_broker, browser, watched):
    broker, admin = app_broker, watched.page
    other = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US").new_page()
    sign_in_page(other, broker, "uwe")
    other.goto(broker.url + "/")
    expect(other.locator(".topbar")).to_be_visible()
    assert style(other, ".topbar", "background-color") == rgb("#0b57d0")  # the default, before
    expect(other.locator("#app-name")).to_have_text("deskbroker")

    sign_in_page(admin, broker, "ada")
    admin.goto(broker.url + "/admin/branding")
    expect(admin.locator("#name-input")).to_have_value("deskbroker")
    admin.locator("#name-input").fill(NAME)
    admin.locator("#primary-input").fill(PRIMARY)
    admin.locator("#accent-input").fill(ACCENT)
    expect(admin.locator("#preview-name")).to_have_text(NAME)  # the preview follows before saving
    expect(admin.locator(".preview-bar")).to_have_css("background-color", rgb(PRIMARY))
    expect(admin.locator(".preview-bar")).to_have_css("color", "rgb(255, 255, 255)")
    expect(admin.locator(".preview-bar")).to_have_css("border-bottom-color", rgb(ACCENT))
    admin.locator("#save").click()
    expect(admin.locator("#branding-status")).to_have_text("Saved. Every page shows it from the next page load on.")
    expect(admin.locator("#app-name")).to_have_text(NAME)  # the admin's own page follows at once
    expect(admin.locator(".topbar")).to_have_css("background-color", rgb(PRIMARY))
    admin.locator("#logo-file").set_input_files({"name": "logo.png", "mimeType": "image/png", "buffer": LOGO})
    expect(admin.locator("#logo-current")).to_be_visible()
    expect(admin.locator("#logo-default")).to_be_hidden()
    admin.locator("#favicon-file").set_input_files({"name": "x.ico", "mimeType": "image/png", "buffer": FAVICON})
    expect(admin.locator("#favicon-default")).to_be_hidden()
    expect(admin.locator(".topbar .brand-logo")).to_be_visible()
    admin.screenshot(path=str(ARTIFACTS / "branding_admin_page.png"), full_page=True)
    assert watched.problems() == []

    other.reload()  # the dashboard
    shows_the_branding(other, broker, ".topbar .brand-logo", "Your desktops")
    expect(other.locator("#app-name")).to_have_text(NAME)
    expect(other.locator(".topbar")).to_have_css("background-color", rgb(PRIMARY))
    expect(other.locator(".topbar")).to_have_css("color", "rgb(255, 255, 255)")
    expect(other.locator(".topbar")).to_have_css("border-bottom-color", rgb(ACCENT))
    other.screenshot(path=str(ARTIFACTS / "branding_dashboard.png"), full_page=True)

    other.goto(broker.url + "/files")
    shows_the_branding(other, broker, ".topbar .brand-logo", "Files")
    expect(other.locator(".topbar")).to_have_css("background-color", rgb(PRIMARY))

    other.goto(broker.url + "/desktops/no-such-desktop/view")
    shows_the_branding(other, broker, ".toolbar .brand-logo", "Desktop")
    expect(other.locator(".toolbar")).to_have_css("border-bottom-color", rgb(ACCENT))

    other.context.clear_cookies()
    other.goto(broker.url + "/")  # signed out: the sign-in page
    shows_the_branding(other, broker, ".brand-head .brand-logo", "Sign in")
    expect(other.locator(".brand-head .brand")).to_have_text(NAME)
    expect(other.locator(".card")).to_have_css("border-top-color", rgb(ACCENT))
    other.locator("#username").fill("uwe")
    other.locator("#password").fill(PASSWORD)
    other.locator("#local-login [type=submit]").click()
    expect(other.locator("#app-name")).to_have_text(NAME)
    other.screenshot(path=str(ARTIFACTS / "branding_after_sign_in.png"), full_page=True)
    other.context.close()


def test_a_light_primary_colour_keeps_text_readable_and_reset_brings_back_the_defaults(app_broker, watched):
    page, broker = watched.page, app_broker
    sign_in_page(page, broker, "ada")
    page.goto(broker.url + "/admin/branding")
    expect(page.locator("#name-input")).not_to_have_value("")
    page.locator("#primary-input").fill("#ffe14d")
    page.locator("#save").click()
    expect(page.locator(".topbar")).to_have_css("background-color", rgb("#ffe14d"))
    expect(page.locator(".topbar")).to_have_css("color", "rgb(0, 0, 0)")  # black on yellow, not white
    link_colour = page.locator("#preview .preview-link").evaluate("(e) => getComputedStyle(e).color")
    assert link_colour != rgb("#ffe14d")  # links: darkened until readable on white

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#reset").click()
    expect(page.locator("#name-input")).to_have_value("deskbroker")
    expect(page.locator(".topbar")).to_have_css("background-color", rgb("#0b57d0"))
    expect(page.locator("#logo-default")).to_be_visible()
    expect(page.locator(".topbar .brand-logo")).to_have_count(0)
    page.goto(broker.url + "/")
    expect(page).to_have_title("Your desktops · deskbroker")
    assert watched.problems() == []


def test_bad_input_is_explained_on_the_page(app_broker, watched):
    page, broker = watched.page, app_broker
    sign_in_page(page, broker, "ada")
    page.goto(broker.url + "/admin/branding")
    expect(page.locator("#name-input")).not_to_have_value("")
    page.locator("#logo-file").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": b"<html>not a picture</html>"}
    )
    expect(page.locator("#branding-error")).to_have_text(
        "That is not a PNG, JPEG, WebP, SVG (without scripts) or ICO image."
    )
    assert watched.problems(expected_failures=("/api/admin/branding/logo",)) == []
