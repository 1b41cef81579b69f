"""What the viewer tests share: the web client's string tables (read from web/src/strings.js
by Node, so tests and client never disagree), a browser page that records console errors
and Content-Security-Policy violations, and signing in a local account in that page."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page

WEB = Path(__file__).resolve().parents[2] / "web"
BUNDLE = WEB.parent / "broker" / "static" / "app"
PASSWORD = "a viewer test password"

# Recorded for every page before any of its own scripts run.
_CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="session", autouse=True)
def built_viewer() -> None:
    if not (BUNDLE / "viewer-guacamole.js").exists():
        pytest.fail("the web viewer is not built: run scripts/setup.sh (npm ci && npm run build in web/)")


@pytest.fixture(scope="session")
def strings() -> dict[str, dict[str, str]]:
    script = "import('./src/strings.js').then((m) => console.log(JSON.stringify(m.STRINGS)))"
    out = subprocess.run(["node", "--input-type=module", "-e", script], cwd=WEB, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


@dataclass
class Watched:
    """A page plus what went wrong in it: console errors, uncaught exceptions, CSP violations."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def reset(self) -> None:
        """Forget what happened so far (e.g. on the provider's sign-in pages)."""
        self.errors.clear()

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations")

    def problems(self, expected_failures: tuple[str, ...] = ()) -> list[str]:
        """Errors and CSP violations, except failed loads of URLs containing `expected_failures`.
        Nor do requests Chromium aborted because the host's network changed (Docker adds an
        interface for every container it starts; the viewer retries those), nor /favicon.ico
        (Chromium asks for it on answers that are not pages, such as JSON)."""
        ignored = ("ERR_NETWORK_CHANGED", "/favicon.ico", *expected_failures)
        unexpected = [e for e in self.errors
                      if not ("Failed to load resource" in e and any(part in e for part in ignored))]
        return unexpected + [f"CSP: {v}" for v in self.csp_violations()]


@pytest.fixture
def watched(page: Page) -> Watched:
    watch = Watched(page)
    page.on("console", watch.on_console)
    page.on("pageerror", lambda error: watch.errors.append(f"uncaught: {error}"))
    page.add_init_script(_CSP_RECORDER)
    return watch


def create_local_account(broker, username: str, *roles: str) -> None:
    flags = [f"--{role}" for role in roles]
    subprocess.run([sys.executable, "-m", "broker", "users", "create", username, *flags, "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=broker.env, check=True, capture_output=True)


def sign_in_page(page: Page, broker, username: str) -> None:
    """Sign `page`'s browser context in (the session cookie lands in the context)."""
    answer = page.context.request.post(broker.url + "/api/auth/local/login",
                                       data={"username": username, "password": PASSWORD})
    assert answer.ok, answer.text()


@pytest.fixture(scope="module")
def desktop_broker(tmp_path_factory, docker_engine, desktop_images):
    """`broker serve` on SQLite with real desktops on the Docker engine, under an instance name of
    its own (everything labelled with it is removed afterwards); the catalog is synced at start.
Files: 512 KiB per file at most, 1 MiB per home, 50 entries listed per folder, 100 counted per home."""
    import secrets
    import time

    import requests

    from tests.fixtures.broker import start_live_broker
    from tests.fixtures.desktops import desktop_overrides, remove_everything_of

    instance = "t" + secrets.token_hex(4)
    folder = tmp_path_factory.mktemp("app-broker")
    # Small limits, so the file manager's refusals can be met for real.
    broker = start_live_broker(folder, f"sqlite:///{folder / 'broker.db'}", files_max_file_size="512K",
                               files_home_quota="1M", files_list_max_entries="50", files_usage_max_entries="100",
                               **desktop_overrides(instance))
    broker.instance = instance
    try:
        create_local_account(broker, "probe")
        token = requests.post(broker.url + "/api/auth/local/login", timeout=10,
                              json={"username": "probe", "password": PASSWORD}).json()["session_token"]
        deadline = time.monotonic() + 30
        while True:  # housekeeping syncs the catalog from the images when the broker starts
            types = requests.get(broker.url + "/api/container/list", timeout=10,
                                 headers={"Authorization": f"Bearer {token}"}).json()["desktop_types"]
            if any(kind["id"] == "base" for kind in types) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        yield broker
    finally:
        broker.stop()
        remove_everything_of(docker_engine, instance)


@pytest.fixture(scope="module")
def app_broker(tmp_path_factory, docker_engine):
    """`broker serve` on SQLite under an instance name of its own (its volumes are removed afterwards),
    for the pages' look and feel: ada (admin), tess (teacher) and uwe, both in group 7b, and a desktop
    type made by an admin, so every page has something to show without starting a desktop."""
    import secrets

    from broker.models import DesktopType, Group, User
    from tests.fixtures.broker import start_live_broker
    from tests.fixtures.desktops import desktop_overrides, remove_everything_of

    instance = "t" + secrets.token_hex(4)
    folder = tmp_path_factory.mktemp("pages-broker")
    broker = start_live_broker(folder, f"sqlite:///{folder / 'broker.db'}", **desktop_overrides(instance))
    try:
        for name, roles in (("ada", ("admin",)), ("tess", ("teacher",)), ("uwe", ())):
            create_local_account(broker, name, *roles)
        with broker.session() as db:
            group = Group(key="7b", name="Klasse 7b")
            for user in db.query(User).filter(User.username.in_(["tess", "uwe"])):
                user.groups.append(group)
            db.add(DesktopType(id="office", image="deskbroker/office:none", title_en="Office", title_de="Büro",
                               description_en="Writing and sums", description_de="Schreiben und Rechnen"))
            db.commit()
        yield broker
    finally:
        broker.stop()
        remove_everything_of(docker_engine, instance)
