"""Benchmark: a class opening its desktops at once, through one guacd and through a pool.

    python -m tests.bench.bench_guacd_pool [--tunnels 40] [--desktops 4] [--pool N]

Real guacd and real `base` desktops on a private network of their own. `--tunnels` VNC
connections are opened at once (a thread each, as the broker's tunnels are greenlets), spread
over the desktops, through broker.tunnels.guacd_pool: first with one guacd (the baseline), then
with a pool of `--pool` instances (default: as `broker tier start` sizes it). Each connection is
held once guacd drew its first frame, until all are open, as a class's are. Figures per run:
open → first frame p50/p99, the turn and the handshake p50/p99, all open after; the pool's next to
the baseline's as a ratio.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from broker.engine import docker_client
from broker.images.build import build_images
from broker.images.table import format_table
from broker.rfb import wait_for_greeting
from broker.tier import pool_size
from broker.tunnels.guacd import GuacdError, Screen, VncTarget
from broker.tunnels.guacd_pool import GuacdPool
from broker.tunnels.protocol import encode, parse, split_complete


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(share * len(ordered) + 0.999999) - 1)]


class Classroom:
    """`desktops` base desktops and `guacds` guacd on a private network of their own."""

    def __init__(self, desktops: int, guacds: int):
        self.engine = docker_client()
        build_images(self.engine, ["base", "guacd"], progress=lambda _line: None)
        self.password = secrets.token_hex(4)
        self.network = self.engine.networks.create(f"deskbroker-bench-{secrets.token_hex(3)}")
        self.containers = []
        self.desktops = [
            self._run("deskbroker/base:latest", environment={"VNC_PASSWORD": self.password}) for _ in range(desktops)
        ]
        self.guacds = [self._run("deskbroker/guacd:latest") for _ in range(guacds)]
        for desktop in self.desktops:
            wait_for_greeting(desktop, 5901, 60)
        time.sleep(2)

    def _run(self, image: str, **options) -> str:
        container = self.engine.containers.run(image, detach=True, network=self.network.name, **options)
        self.containers.append(container)
        container.reload()
        return container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]

    def remove(self) -> None:
        for container in self.containers:
            container.remove(force=True)
        self.network.remove()


def first_frame(connection) -> None:
    """Read guacd's stream until its first frame ended (a sync after an image)."""
    sock, pending, drawn = connection.sock, connection.leftover.decode(), False
    sock.settimeout(30)
    while True:
        complete, pending = split_complete(pending + sock.recv(65536).decode(), 1 << 20)
        for opcode, *args in parse(complete, 1 << 20):
            drawn = drawn or opcode in ("img", "png")
            if opcode == "sync":
                sock.sendall(encode("sync", args[0]).encode())
                if drawn:
                    return
            if opcode == "error":
                raise GuacdError(f"guacd: {args}", 0)


def class_arrives(room: Classroom, guacds: list[str], tunnels: int) -> dict:
    pool = GuacdPool([(address, 4822) for address in guacds])
    everyone_in, lock = threading.Event(), threading.Lock()
    results: list[tuple[float, float, float]] = []
    failures: list[str] = []

    def pupil(n: int) -> None:
        target = VncTarget(room.desktops[n % len(room.desktops)], 5901, room.password)
        started = time.monotonic()
        connection = None
        try:
            connection, _instance = pool.open(target, Screen(1024, 768))
            first_frame(connection)
            with lock:
                results.append((time.monotonic() - started, connection.turn_wait_seconds, connection.handshake_seconds))
                if len(results) + len(failures) == tunnels:
                    everyone_in.set()
            everyone_in.wait(120)
        except (GuacdError, OSError) as error:
            with lock:
                failures.append(f"{type(error).__name__}: {error}")
                if len(results) + len(failures) == tunnels:
                    everyone_in.set()
        finally:
            if connection is not None:
                connection.close()

    started = time.monotonic()
    with ThreadPoolExecutor(tunnels) as threads:
        list(threads.map(pupil, range(tunnels)))
    return {
        "open": [r[0] for r in results],
        "turn": [r[1] for r in results],
        "handshake": [r[2] for r in results],
        "all": max((r[0] for r in results), default=0.0),
        "failures": failures,
        "wall": time.monotonic() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunnels", type=int, default=40)
    parser.add_argument("--desktops", type=int, default=4)
    parser.add_argument("--pool", type=int, default=pool_size())
    args = parser.parse_args(argv)
    room = Classroom(args.desktops, args.pool)
    try:
        baseline = class_arrives(room, room.guacds[:1], args.tunnels)
        time.sleep(3)  # guacd's children of the first run gone
        pooled = class_arrives(room, room.guacds, args.tunnels)
    finally:
        room.remove()
    rows = []
    for name in ("open", "turn", "handshake"):
        one, many = baseline[name], pooled[name]
        rows.append(
            [
                f"{name} p50 / p99" if name != "open" else "open → first frame p50 / p99",
                f"{statistics.median(one):.2f} / {percentile(one, 0.99):.2f} s",
                f"{statistics.median(many):.2f} / {percentile(many, 0.99):.2f} s",
                f"{statistics.median(many) / max(statistics.median(one), 1e-6):.2f} / "
                f"{percentile(many, 0.99) / max(percentile(one, 0.99), 1e-6):.2f}",
            ]
        )
    rows.append(
        [
            "all open after",
            f"{baseline['all']:.2f} s",
            f"{pooled['all']:.2f} s",
            f"{pooled['all'] / baseline['all']:.2f}",
        ]
    )
    rows.append(["failed", str(len(baseline["failures"])), str(len(pooled["failures"])), "—"])
    print(f"{args.tunnels} VNC connections opened at once over {args.desktops} base desktops")
    print(format_table(["figure", "one guacd", f"pool of {args.pool}", "pool / one"], rows))
    for failure in (baseline["failures"] + pooled["failures"])[:5]:
        print("failure:", failure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
