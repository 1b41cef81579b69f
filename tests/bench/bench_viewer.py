"""Benchmark: from a click in the browser to a drawn desktop.

    python -m tests.bench.bench_viewer [--rounds 5] [--type xfce] [--only running|start]

Two parts, each in headless Chromium (Debian's) against `broker serve` and the real guacd:

- running: opening `/desktops/ID/view` of a running desktop until the canvas shows a drawn
  desktop (the viewer's page and bundle load, the connect request, the tunnel's handshake through
  guacd, the first frames); beside it the tunnel alone (connect request → first image
  instruction, no browser) shows what the browser adds.
- start: one click on the dashboard's Start until the viewer shows the drawn desktop, for a cold
  start (no container yet), the person's stopped container and a desktop from the pool, against
  the issue's targets; beside each, in the same run, the old two clicks (Start, wait for
  `running`, Connect; no time for the person between them) and the bare engine (`docker run` or
  `docker start` → RFB greeting, no broker, no browser).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from broker.auth.users import create_local_user
from broker.desktops import make_provider
from broker.engine import docker_client
from broker.images.build import build_images
from broker.images.table import format_table
from broker.models import Desktop, DesktopType
from broker.tunnels.protocol import encode, parse
from tests.bench.bench_provisioning import bare_engine
from tests.bench.bench_tunnel import BusyDesktop
from tests.fixtures.broker import make_settings, start_live_broker
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.desktops import desktop_overrides, remove_everything_of, run_guacd
from tests.fixtures.fake_guacd import PASSWORD, TunnelWorld
from tests.viewer.test_viewer_end_to_end import DRAWN_COLOURS

TARGETS = {"cold": 1.0, "stopped": 0.5, "pool": 0.5}  # issue 15, point 6: click → drawn, median
DRAWN_TIMEOUT_MS = 60_000
# When the viewer first reached each state after starting (connecting, connected), in ms since the epoch.
RECORD_PHASES = """
window.__phases = {};
new MutationObserver(() => {
  const state = document.getElementById('viewer')?.dataset.state;
  if (state === 'starting' || ('starting' in window.__phases && state && !(state in window.__phases))) {
    window.__phases[state] ??= Date.now();
  }
}).observe(document, { subtree: true, attributes: true, childList: true });
"""
POOL_SETTLE = 5.0  # seconds a pool desktop waits before it is taken: its session has drawn by then
PHASES = (("starting", "viewer up"), ("connecting", "desktop running"), ("connected", "first frame"))


def tunnel_to_first_image(world: TunnelWorld) -> float:
    started = time.perf_counter()
    ws = world.open(1280)
    while True:
        for opcode, *args in parse(ws.recv(), 1 << 20):
            if opcode in ("img", "png"):
                ws.close()
                return time.perf_counter() - started
            if opcode == "sync":
                ws.send(encode("sync", args[0]))


def open_running(rounds: int) -> list[list[str]]:
    busy = BusyDesktop()
    try:
        with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
            world = TunnelWorld(
                Path(workdir), busy.address(busy.guacd), 4822, busy.address(busy.desktop), busy.password
            )
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(world.broker.url + "/")
                page.fill("#username", "standin")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector("#logout")
                viewer, tunnel = [], []
                for _ in range(rounds):
                    started = time.perf_counter()
                    page.goto(f"{world.broker.url}/desktops/{world.desktop_id}/view")
                    page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=30_000)
                    viewer.append(time.perf_counter() - started)
                    page.goto("about:blank")
                    tunnel.append(tunnel_to_first_image(world))
            finally:
                browser.close()
                world.broker.stop()
    finally:
        busy.remove()
    return [
        ["open viewer → drawn desktop (Chromium)", *(f"{f(viewer):.3f} s" for f in (statistics.median, min, max))],
        ["tunnel alone → first image", *(f"{f(tunnel):.3f} s" for f in (statistics.median, min, max))],
    ]


class Clicks:
    """A live broker with guacd and real desktops of one type, and people clicking in Chromium."""

    def __init__(self, browser: Browser, workdir: Path, guacd_ip: str, type_id: str, instance: str, **overrides: str):
        self.browser, self.type_id = browser, type_id
        self.broker = start_live_broker(
            workdir,
            f"sqlite:///{workdir / (secrets.token_hex(4) + '.db')}",
            guacd_host=guacd_ip,
            **desktop_overrides(instance, desktop_start_timeout="60s", desktops_per_user="5", **overrides),
        )
        self.wait(lambda: self.types_known())
        with self.broker.session() as db:  # only this type: the pool fills no others
            for kind in db.scalars(select(DesktopType)):
                kind.enabled = kind.id == type_id
            db.commit()

    def types_known(self) -> bool:  # housekeeping syncs the catalog from the images when the broker starts
        page = self.person()
        try:
            types = page.context.request.get(self.broker.url + "/api/container/list").json()["desktop_types"]
            return any(kind["id"] == self.type_id for kind in types)
        finally:
            page.context.close()

    @staticmethod
    def wait(condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                sys.exit("timed out waiting for the broker")
            time.sleep(0.3)

    def person(self) -> Page:
        """A new person, signed in, in a browser context of their own."""
        name = "bench-" + secrets.token_hex(4)
        with self.broker.session() as db:
            create_local_user(db, name, PASSWORD)
            db.commit()
        page = self.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        answer = page.context.request.post(
            self.broker.url + "/api/auth/local/login", data={"username": name, "password": PASSWORD}
        )
        assert answer.ok, answer.text()
        return page

    def api(self, page: Page, path: str) -> dict:
        request = page.context.request
        try:
            session = request.get(self.broker.url + "/api/auth/session")
        except PlaywrightError:  # a kept-alive connection the server closed just then: a GET is safe to repeat
            session = request.get(self.broker.url + "/api/auth/session")
        csrf = session.json()["csrf_token"]
        answer = request.post(self.broker.url + path, headers={"X-CSRF-Token": csrf}, timeout=120_000)
        assert answer.ok, answer.text()
        return answer.json()

    def dashboard(self, page: Page) -> None:
        page.goto(self.broker.url + "/")
        page.locator(f".desktop-card[data-type={self.type_id}] [data-action=start]").wait_for()

    def one_click(self, page: Page, phases: list[dict[str, float]]) -> float:
        """The dashboard's Start → the viewer shows the drawn desktop; when it got how far goes to `phases`."""
        self.dashboard(page)
        page.add_init_script(RECORD_PHASES)
        clicked, started = time.time(), time.perf_counter()
        page.click(f".desktop-card[data-type={self.type_id}] [data-action=start]")
        page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=DRAWN_TIMEOUT_MS)
        drawn = time.perf_counter() - started
        reached = page.evaluate("window.__phases")
        phases.append({state: reached[state] / 1000 - clicked for state, _ in PHASES if state in reached})
        return drawn

    def two_clicks(self, page: Page, _phases: list[dict[str, float]]) -> float:
        """Before: Start (the dashboard's request until `running`), then Connect → drawn."""
        self.dashboard(page)
        started = time.perf_counter()
        desktop = page.evaluate(
            """async (type) => {
              const session = await (await fetch('/api/auth/session')).json();
              const answer = await fetch(`/api/container/start?desktop_type=${type}`, { method: 'POST',
                headers: { 'X-CSRF-Token': session.csrf_token, 'Content-Type': 'application/json' }, body: '{}' });
              return answer.json();
            }""",
            self.type_id,
        )
        page.goto(f"{self.broker.url}/desktops/{desktop['id']}/view?protocol=guacamole&mode=control")
        page.wait_for_function(DRAWN_COLOURS, arg=20, timeout=DRAWN_TIMEOUT_MS)
        return time.perf_counter() - started

    def stop(self, page: Page) -> None:
        page.goto("about:blank")
        self.api(page, f"/api/container/stop?desktop_type={self.type_id}")

    def remove(self, page: Page) -> None:
        page.goto("about:blank")
        self.api(page, f"/api/container/remove?desktop_type={self.type_id}")
        page.context.close()

    def pool_ready(self) -> bool:
        with self.broker.session() as db:
            return (
                db.scalar(select(Desktop.id).where(Desktop.user_id.is_(None), Desktop.state == "running")) is not None
            )


def click_to_drawn(type_id: str, rounds: int) -> list[list[str]]:
    client = docker_client()
    build_images(client, [type_id, "guacd"], progress=lambda _line: None)
    instance = "bench" + secrets.token_hex(3)
    overrides = desktop_overrides(instance)
    make_provider(make_settings(**overrides)).ensure_network()
    samples: dict[str, list[float]] = {key: [] for key in ("cold", "cold2", "stopped", "stopped2", "pool", "pool2")}
    phases: dict[str, list[dict[str, float]]] = {"cold": [], "stopped": [], "pool": []}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="deskbroker-bench-") as workdir,
            run_guacd(client, instance, overrides["desktop_network"]) as (_, guacd_ip),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            clicks = Clicks(browser, Path(workdir), guacd_ip, type_id, instance)
            try:
                warm_up = clicks.person()  # the image in the page cache, the browser's cache filled
                clicks.one_click(warm_up, [])
                clicks.remove(warm_up)
                for _ in range(rounds):
                    for one, path in (("", clicks.one_click), ("2", clicks.two_clicks)):
                        page = clicks.person()
                        samples["cold" + one].append(path(page, phases["cold"]))
                        clicks.stop(page)
                        samples["stopped" + one].append(path(page, phases["stopped"]))
                        clicks.remove(page)
            finally:
                clicks.broker.stop()
            pooled = Clicks(
                browser,
                Path(workdir),
                guacd_ip,
                type_id,
                instance,
                desktop_pool_size="1",
                desktop_persistent_homes="false",
                housekeeping_interval="1s",
            )
            try:
                for _ in range(rounds):
                    for one, path in (("", pooled.one_click), ("2", pooled.two_clicks)):
                        pooled.wait(pooled.pool_ready)
                        time.sleep(POOL_SETTLE)
                        page = pooled.person()
                        samples["pool" + one].append(path(page, phases["pool"]))
                        pooled.remove(page)
            finally:
                pooled.broker.stop()
                browser.close()
        runs, starts = bare_engine(
            client, f"deskbroker/{type_id}:latest", overrides["desktop_network"], instance, rounds
        )
    finally:
        remove_everything_of(client, instance)

    bare = {"cold": statistics.median(runs), "stopped": statistics.median(starts), "pool": None}

    def row(label: str, values: list[float], kind: str, target: bool) -> list[str]:
        median = statistics.median(values)
        goal = TARGETS[kind]
        return [
            label,
            f"{median:.3f} s",
            f"{min(values):.3f} s",
            f"{max(values):.3f} s",
            f"{median / statistics.median(samples[kind + '2']):.2f}",
            f"{median / bare[kind]:.2f}" if bare[kind] else "",
            f"<= {goal:.1f} s {'met' if median <= goal else 'MISSED'}" if target else "",
        ]

    rows = []
    for kind, what in (("cold", "cold (no container)"), ("stopped", "stopped container"), ("pool", "from the pool")):
        rows.append(row(f"{type_id} {what}: one click → drawn", samples[kind], kind, True))
        rows.append(row(f"{type_id} {what}: two clicks → drawn (before)", samples[kind + "2"], kind, False))
        for state, label in PHASES:  # where the one click's time goes
            values = [reached[state] for reached in phases[kind] if state in reached]
            if values:
                median = statistics.median(values)
                rows.append(
                    [f"  one click → {label}", f"{median:.3f} s", f"{min(values):.3f} s", f"{max(values):.3f} s"]
                )
    rows.append([f"bare engine: docker run → greeting ({type_id})", f"{bare['cold']:.3f} s", "", "", "", "1.00", ""])
    rows.append(
        [f"bare engine: docker start → greeting ({type_id})", f"{bare['stopped']:.3f} s", "", "", "", "1.00", ""]
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--type", default="xfce", help="the desktop type started by the click (default xfce)")
    parser.add_argument("--only", choices=("running", "start"), help="run one part only")
    options = parser.parse_args()
    if options.only != "start":
        print(format_table(["figure", "median", "best", "worst"], open_running(options.rounds)))
    if options.only != "running":
        print(
            f"\nclick → drawn desktop in Chromium, {options.rounds} rounds each (ratios: median / the two clicks' "
            "median in the same run; median / the bare engine's median, docker run for cold, docker start for a "
            "stopped container)\n"
        )
        print(
            format_table(
                ["figure", "median", "best", "worst", "vs two clicks", "vs bare engine", "target"],
                click_to_drawn(options.type, options.rounds),
            )
        )


if __name__ == "__main__":
    sys.exit(main())
