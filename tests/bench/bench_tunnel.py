"""Benchmark: what the broker's Guacamole tunnel costs.

    python -m tests.bench.bench_tunnel [--seconds 5] [--tunnels 100]

Each figure compares one source of drawing traffic read two ways: straight from guacd over
TCP (as the broker itself reads it) and through `broker serve` (gunicorn + gevent) and its
WebSocket tunnel, both readers answering `sync` as a browser does.

- Desktop: a real desktop container kept busy drawing (an xterm listing files without end)
  behind the real guacd: the throughput a person sees, direct and tunnelled.
- Stand-in: a guacd stand-in on loopback streaming `img`/`blob`/`end`/`sync` as fast as it
  is read: the relay's own ceiling. It also answers each `key` with a `sync`, for the added
  round-trip latency.
- Idle tunnels: the broker's memory and CPU while holding many, each held as the browser does
  (a ping twice a second, guacd's sync every second answered).
"""

from __future__ import annotations

import argparse
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from broker.engine import docker_client
from broker.images.build import build_images
from broker.images.table import format_table
from broker.rfb import wait_for_greeting
from broker.tunnels.guacd import Screen, VncTarget, open_connection
from broker.tunnels.protocol import encode, parse, split_complete
from tests.fixtures.fake_guacd import FakeGuacd, TunnelWorld, hold_idle_tunnels

DRAWING = "while :; do ls -lR /usr; done"


def direct_handshake(port: int, width: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(encode("select", "vnc").encode())
    sock.recv(4096)
    sock.sendall((encode("size", width, 768, 96) + encode("connect", "VERSION_1_5_0", "h", "5901", "p", "")).encode())
    buffer = b""
    while b";" not in buffer:
        buffer += sock.recv(4096)
    return sock


def throughput_direct(port: int, seconds: float) -> float:
    sock = direct_handshake(port, FakeGuacd.STREAM_WIDTH)
    received, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        received += len(sock.recv(65536))
    sock.close()
    return received / (time.monotonic() - started)


def latency_direct(port: int, rounds: int) -> list[float]:
    sock = direct_handshake(port, FakeGuacd.ECHO_WIDTH)
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        sock.sendall(encode("key", n, "1").encode())
        sock.recv(4096)
        times.append(time.perf_counter() - started)
    sock.close()
    return times


class GuacdDesktop:
    """A base desktop and a real guacd, on a private network of their own (the benchmarks' rig)."""

    def __init__(self):
        self.engine = docker_client()
        build_images(self.engine, ["base", "guacd"], progress=lambda _line: None)
        self.password = secrets.token_hex(4)
        self.network = self.engine.networks.create(f"deskbroker-bench-{secrets.token_hex(3)}")
        self.desktop = self._run("deskbroker/base:latest", environment={"VNC_PASSWORD": self.password})
        self.guacd = self._run("deskbroker/guacd:latest")
        wait_for_greeting(self.address(self.desktop), 5901, 30)

    def _run(self, image: str, **options):
        container = self.engine.containers.run(image, detach=True, network=self.network.name, **options)
        container.reload()
        return container

    def address(self, container) -> str:
        return container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]

    def remove(self) -> None:
        for container in (self.desktop, self.guacd):
            container.remove(force=True)
        self.network.remove()


class BusyDesktop(GuacdDesktop):
    """The rig's desktop drawing without end."""

    def __init__(self):
        super().__init__()
        self.desktop.exec_run(
            [
                "setpriv",
                "--reuid=user",
                "--regid=user",
                "--init-groups",
                "env",
                "DISPLAY=:1",
                "xterm",
                "-geometry",
                "160x50+0+0",
                "-e",
                "sh",
                "-c",
                DRAWING,
            ],
            detach=True,
        )
        time.sleep(2)


def drawing_direct(busy: BusyDesktop, seconds: float) -> float:
    """Characters per second read straight from guacd, answering syncs."""
    connection = open_connection(
        busy.address(busy.guacd), 4822, VncTarget(busy.address(busy.desktop), 5901, busy.password), Screen(1280, 800)
    )
    sock, pending, received = connection.sock, connection.leftover.decode(), 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        complete, pending = split_complete(pending + sock.recv(65536).decode(), 1 << 20)
        received += len(complete)
        answers = [encode("sync", args[0]) for opcode, *args in parse(complete, 1 << 20) if opcode == "sync"]
        if answers:
            sock.sendall("".join(answers).encode())
    connection.close()
    return received / (time.monotonic() - started)


def drawing_tunnel(world: TunnelWorld, seconds: float) -> float:
    ws = world.open(1280)
    received, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        message = ws.recv()
        if message == encode("nop"):
            continue
        received += len(message)
        for opcode, *args in parse(message, 1 << 20):
            if opcode == "sync":
                ws.send(encode("sync", args[0]))
    ws.close()
    return received / (time.monotonic() - started)


def throughput_tunnel(tunnels: TunnelWorld, seconds: float) -> float:
    ws = tunnels.open(FakeGuacd.STREAM_WIDTH)
    received, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        received += len(ws.recv())
    ws.close()
    return received / (time.monotonic() - started)


def latency_tunnel(tunnels: TunnelWorld, rounds: int) -> list[float]:
    ws = tunnels.open(FakeGuacd.ECHO_WIDTH)
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        ws.send(encode("key", n, "1"))
        while ws.recv() == encode("nop"):
            pass
        times.append(time.perf_counter() - started)
    ws.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--tunnels", type=int, default=100)
    options = parser.parse_args()
    mb = 1e6
    rows = []
    busy = BusyDesktop()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            world = TunnelWorld(
                Path(workdir), busy.address(busy.guacd), 4822, busy.address(busy.desktop), busy.password
            )
            try:
                direct, tunnelled = drawing_direct(busy, options.seconds), drawing_tunnel(world, options.seconds)
            finally:
                world.broker.stop()
        rows.append(
            [
                "desktop drawing",
                f"{direct / mb:.2f} MB/s",
                f"{tunnelled / mb:.2f} MB/s",
                f"{tunnelled / direct:.2f}",
                "≥ 0.80",
            ]
        )
    finally:
        busy.remove()
    guacd = FakeGuacd()
    with tempfile.TemporaryDirectory() as workdir:
        tunnels = TunnelWorld(Path(workdir), "127.0.0.1", guacd.port)
        try:
            direct_bps, tunnel_bps = (
                throughput_direct(guacd.port, options.seconds),
                throughput_tunnel(tunnels, options.seconds),
            )
            direct_rtt = statistics.median(latency_direct(guacd.port, options.rounds))
            tunnel_rtt = statistics.median(latency_tunnel(tunnels, options.rounds))
            idle = hold_idle_tunnels(tunnels, options.tunnels, options.seconds)
        finally:
            tunnels.broker.stop()
    rows += [
        [
            "stand-in, unbounded",
            f"{direct_bps / mb:.0f} MB/s",
            f"{tunnel_bps / mb:.0f} MB/s",
            f"{tunnel_bps / direct_bps:.2f}",
            "(ceiling)",
        ],
        [
            "round trip p50",
            f"{direct_rtt * 1e3:.3f} ms",
            f"{tunnel_rtt * 1e3:.3f} ms",
            f"+{(tunnel_rtt - direct_rtt) * 1e3:.3f} ms",
            "≤ +1 ms",
        ],
    ]
    print(format_table(["figure", "direct to guacd", "through the broker", "ratio / added", "target"], rows))
    print()
    print(
        format_table(
            ["idle tunnels", "broker RSS before", "with the tunnels", "per tunnel", "CPU"],
            [
                [
                    str(idle.tunnels),
                    f"{idle.rss_before:.0f} MiB",
                    f"{idle.rss_after:.0f} MiB",
                    f"{idle.kib_per_tunnel:.0f} KiB",
                    f"{idle.cpu_percent:.0f} %",
                ],
            ],
        )
    )


if __name__ == "__main__":
    sys.exit(main())
