"""Benchmark: can one person's huge home stall everyone else on the broker?

    python -m tests.bench.bench_stall [--files 200000] [--seconds 5] [--desktop]

`broker serve` (one gunicorn gevent worker, the default) on the real Docker engine. One person
watches a desktop through the tunnel: a guacd stand-in on loopback drawing 50 frames a second
(with --desktop: a real desktop kept busy drawing behind the real guacd). A probe asks
/healthz one request after another. Both are measured idle, then while the file manager is
asked for a home of `--files` small files (usage figure and top listing, as the Files page
loads them): six requests at once by the owner, then by six people with such a home each; and
while six people upload 200 MiB each at once, and download it again.
Figures: /healthz p50/p99/max, the tunnel's gaps between frames (p99/max), each next to the
idle baseline of the same run, and how long the six requests took to be answered.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import websocket

from broker.auth.users import create_local_user
from broker.desktops.naming import home_volume_name
from broker.engine import docker_client
from broker.images.table import format_table
from broker.tunnels.protocol import encode, parse
from tests.bench.bench_tunnel import BusyDesktop
from tests.files.test_large_upload import BLOCK, BOUNDARY, Body
from tests.fixtures.desktops import PASSWORD, desktop_overrides, remove_everything_of
from tests.fixtures.fake_guacd import FakeGuacd, TunnelWorld

PEOPLE = 6
FILES_PER_FOLDER = 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@dataclass
class Window:
    """What the probe and the tunnel saw between start and stop."""

    health: list[float] = field(default_factory=list)  # seconds per /healthz
    frames: list[float] = field(default_factory=list)  # arrival times of the tunnel's syncs
    answered: float = 0.0  # seconds until the six file requests were all answered (0: none asked)
    complete: bool = True  # every usage figure counted the whole home

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.frames, self.frames[1:])]


class Watchers:
    """The /healthz probe and the tunnel's reader, noting into the current window."""

    def __init__(self, url: str, world: TunnelWorld, width: int):
        self.url, self.window, self.stopping = url, Window(), threading.Event()
        self.ws = world.open(width)
        self.threads = [threading.Thread(target=target, daemon=True) for target in (self._probe, self._tunnel)]
        for thread in self.threads:
            thread.start()

    def _probe(self) -> None:
        with requests.Session() as http:
            while not self.stopping.is_set():
                started = time.perf_counter()
                http.get(self.url + "/healthz", timeout=60).raise_for_status()
                self.window.health.append(time.perf_counter() - started)
                time.sleep(0.005)

    def _tunnel(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.ws.recv()
            except (OSError, websocket.WebSocketException):
                if self.stopping.is_set():
                    return
                raise
            now = time.monotonic()
            for opcode, *args in parse(message, 1 << 22):
                if opcode == "sync":
                    self.window.frames.append(now)
                    with contextlib.suppress(OSError, websocket.WebSocketException):  # closed at the end
                        self.ws.send(encode("sync", args[0]))  # as the browser does

    def measure(self, seconds: float, load=None) -> Window:
        """A fresh window for at least `seconds`, and until `load()` (if any) has returned."""
        self.window = window = Window()
        started = time.monotonic()
        if load is not None:
            window.complete = load()
            window.answered = time.monotonic() - started
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        self.window = Window()  # what arrives from now on is no one's
        return window

    def stop(self) -> None:
        self.stopping.set()
        self.ws.close()


def fill(home: Path, files: int) -> None:
    for f in range(files // FILES_PER_FOLDER):
        folder = home / f"folder-{f:04d}"
        folder.mkdir()
        for n in range(FILES_PER_FOLDER):
            fd = os.open(folder / f"file-{n:05d}.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"some words\n")
            os.close(fd)


def copy_linked(source: Path, target: Path) -> None:
    """`source`'s tree into `target` as hard links: same files to walk, made much faster."""
    for folder in sorted(source.iterdir()):
        (target / folder.name).mkdir()
        for name in os.listdir(folder):
            os.link(folder / name, target / folder.name / name)


def six_requests(url: str, tokens: list[str]) -> bool:
    """Usage figure and top listing, six at once (one per token); True when every figure was complete."""

    def one(token: str) -> bool:
        headers = {"Authorization": f"Bearer {token}"}
        info = requests.get(url + "/api/files/home", headers=headers, timeout=120)
        listing = requests.get(url + "/api/files/home/list", headers=headers, timeout=120)
        assert info.ok and listing.ok, (info.text, listing.text)
        return info.json().get("used_complete", True)

    with ThreadPoolExecutor(len(tokens)) as pool:
        return all(pool.map(one, tokens))


def six_uploads(url: str, tokens: list[str]) -> bool:
    """A 200 MiB file streamed up by each token's person at once (and downloaded again)."""

    def one(token: str) -> bool:
        address = urlsplit(url)
        body = Body("big.bin")
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=300, blocksize=BLOCK)
        connection.request(
            "POST",
            "/api/files/home/upload?replace=true",
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(len(body)),
            },
        )
        answer = connection.getresponse()
        assert answer.status == 201, answer.read()
        connection.close()
        return True

    with ThreadPoolExecutor(len(tokens)) as pool:
        return all(pool.map(one, tokens))


def six_downloads(url: str, tokens: list[str]) -> bool:
    """The 200 MiB file of each token's person downloaded at once."""

    def one(token: str) -> bool:
        with requests.get(
            url + "/api/files/home/download",
            params={"path": "big.bin"},
            stream=True,
            timeout=300,
            headers={"Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.ok, answer.text
            received = sum(len(chunk) for chunk in answer.iter_content(BLOCK))
        assert received == len(Body("")) - len(Body("").head) - len(Body("").tail), received
        return True

    with ThreadPoolExecutor(len(tokens)) as pool:
        return all(pool.map(one, tokens))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--desktop", action="store_true", help="a real desktop behind the real guacd")
    options = parser.parse_args()
    engine = docker_client()
    instance = "bench" + os.urandom(3).hex()
    busy = BusyDesktop() if options.desktop else None
    guacd = None if busy else FakeGuacd()
    watchers = None
    try:
        with tempfile.TemporaryDirectory() as workdir:
            if busy:
                world = TunnelWorld(
                    Path(workdir),
                    busy.address(busy.guacd),
                    4822,
                    busy.address(busy.desktop),
                    busy.password,
                    **desktop_overrides(instance),
                )
            else:
                world = TunnelWorld(Path(workdir), "127.0.0.1", guacd.port, **desktop_overrides(instance))
            try:
                url = world.broker.url
                tokens = []
                with world.broker.session() as db:
                    for n in range(PEOPLE + 1):
                        create_local_user(db, f"big{n}", PASSWORD)
                    db.commit()
                for n in range(PEOPLE + 1):
                    tokens.append(
                        requests.post(
                            url + "/api/auth/local/login",
                            timeout=30,
                            json={"username": f"big{n}", "password": PASSWORD},
                        ).json()["session_token"]
                    )
                    assert requests.get(
                        url + "/api/files/home/list",
                        timeout=30,  # makes the home volume
                        headers={"Authorization": f"Bearer {tokens[-1]}"},
                    ).ok
                homes = [
                    Path(engine.api.inspect_volume(home_volume_name(instance, f"local:big{n}"))["Mountpoint"])
                    for n in range(PEOPLE + 1)
                ]
                made = time.monotonic()
                fill(homes[0], options.files)
                for home in homes[1:]:
                    copy_linked(homes[0], home)
                print(
                    f"{PEOPLE + 1} homes of {options.files} files made in {time.monotonic() - made:.0f} s",
                    file=sys.stderr,
                )

                watchers = Watchers(url, world, 1280 if busy else FakeGuacd.PACED_WIDTH)
                watchers.measure(1.0)  # past the tunnel's opening
                idle = watchers.measure(options.seconds)
                owner = watchers.measure(options.seconds, lambda: six_requests(url, [tokens[0]] * PEOPLE))
                six = watchers.measure(options.seconds, lambda: six_requests(url, tokens[1:]))
                uploads = watchers.measure(options.seconds, lambda: six_uploads(url, tokens[1:]))
                downloads = watchers.measure(options.seconds, lambda: six_downloads(url, tokens[1:]))
            finally:
                if watchers:
                    watchers.stop()
                world.broker.stop()
    finally:
        if busy:
            busy.remove()
        remove_everything_of(engine, instance)

    tunnel = "real desktop (xterm drawing) + guacd" if busy else "guacd stand-in, 50 frames/s"
    print(f"{options.files} files per home; tunnel: {tunnel}; one gevent worker")
    phases = [owner, six, uploads, downloads]
    rows = []
    for name, pick in (
        ("/healthz p50", lambda w: statistics.median(w.health)),
        ("/healthz p99", lambda w: percentile(w.health, 0.99)),
        ("/healthz max", lambda w: max(w.health)),
        ("frame gap p99", lambda w: percentile(w.gaps(), 0.99)),
        ("frame gap max", lambda w: max(w.gaps())),
    ):
        base = pick(idle)
        rows.append([name, ms(base), *(f"{ms(pick(phase))} ({pick(phase) / base:.1f}x)" for phase in phases)])
    rows.append(["frames", str(len(idle.frames)), *(str(len(phase.frames)) for phase in phases)])
    rows.append(
        [
            "all 6 answered in",
            "",
            *(f"{phase.answered:.2f} s" + ("" if phase.complete else " (usage cut short)") for phase in phases),
        ]
    )
    print(
        format_table(
            [
                "figure",
                "idle",
                "6 usage+list, one home",
                "6 usage+list, 6 homes",
                "6 uploads of 200 MiB",
                "6 downloads of 200 MiB",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
