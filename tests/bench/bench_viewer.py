"""Benchmark: from opening a running desktop in the browser to its first drawn frame.

    python -m tests.bench.bench_viewer [--rounds 5]

Headless Chromium (Debian's) opens `/desktops/ID/view` of a running desktop behind the real
guacd and `broker serve`, and the time until the canvas shows a drawn desktop is taken: the
viewer's page and bundle load, the connect request, the tunnel's handshake through guacd and
the first frames. Beside it, in the same run, the tunnel alone (connect request → first
image instruction, no browser) shows what the browser adds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from broker.images.table import format_table
from broker.tunnels.protocol import encode, parse
from tests.bench.bench_tunnel import BusyDesktop
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.fake_guacd import PASSWORD, TunnelWorld
from tests.viewer.test_viewer_end_to_end import DRAWN_COLOURS


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
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
                for _ in range(options.rounds):
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
    print(
        format_table(
            ["figure", "median", "best", "worst"],
            [
                [
                    "open viewer → drawn desktop (Chromium)",
                    *(f"{f(viewer):.3f} s" for f in (statistics.median, min, max)),
                ],
                ["tunnel alone → first image", *(f"{f(tunnel):.3f} s" for f in (statistics.median, min, max))],
            ],
        )
    )


if __name__ == "__main__":
    sys.exit(main())
