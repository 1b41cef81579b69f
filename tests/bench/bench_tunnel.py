"""Benchmark: what the broker's Guacamole tunnel costs.

    python -m tests.bench.bench_tunnel [--seconds 5] [--tunnels 100]

One source of drawing traffic for both paths: a stand-in guacd on loopback that does the
real handshake, then streams `img`/`blob`/`end`/`sync` as fast as the reader takes them, or
answers each `key` with a `sync` (for latency). The baseline reads it straight over TCP, as
the broker itself does; the other path goes through `broker serve` (gunicorn + gevent) and
its WebSocket tunnel. Printed: throughput and round-trip latency with their ratios, then
the broker's memory and CPU while it holds many idle tunnels. No Docker needed.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import websocket

from broker.auth.users import create_local_user
from broker.crypto import encrypt
from broker.db import make_engine, make_sessionmaker, upgrade
from broker.images.table import format_table
from broker.models import Desktop, DesktopType
from broker.tunnels.protocol import encode, parse, split_complete
from tests.fixtures.broker import SECRET, start_live_broker

PASSWORD = "bench password"
BLOB = base64.b64encode(os.urandom(4536)).decode()  # 6048 characters, guacd's blob size
FRAME = (encode("img", "1", "14", "0", "image/png", "0", "0") + encode("blob", "1", BLOB) * 8
         + encode("end", "1"))


class FakeGuacd:
    """A guacd stand-in: the handshake, then a mode chosen by the width asked for."""

    STREAM_WIDTH, ECHO_WIDTH = 1001, 1002

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_instructions(conn, pending: str):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            complete, pending = split_complete(pending + data.decode(), 1 << 20)
            yield from parse(complete, 1 << 20)

    def _serve(self, conn):
        try:
            reader = self._read_instructions(conn, "")
            next(reader)  # select
            conn.sendall(encode("args", "VERSION_1_3_0", "hostname", "port", "password", "read-only").encode())
            width = 0
            for opcode, *args in reader:
                if opcode == "size":
                    width = int(args[0])
                if opcode == "connect":
                    break
            conn.sendall(encode("ready", "$" + str(uuid.uuid4())).encode())
            if width == self.STREAM_WIDTH:
                frame = FRAME.encode()
                stamp = 0
                while True:
                    stamp += 1
                    conn.sendall(frame + encode("sync", stamp).encode())
            elif width == self.ECHO_WIDTH:
                for opcode, *args in reader:
                    if opcode == "key":
                        conn.sendall(encode("sync", args[0]).encode())
            else:  # idle: a sync every 5 s, as an idle desktop would
                while True:
                    conn.sendall(encode("sync", int(time.time() * 1000)).encode())
                    time.sleep(5)
        except OSError:
            pass
        finally:
            conn.close()


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


class Tunnels:
    """`broker serve` with one person and one 'running' desktop whose guacd is the stand-in."""

    def __init__(self, workdir: Path, guacd_port: int):
        url = f"sqlite:///{workdir / 'bench.db'}"
        self.broker = start_live_broker(workdir, url, guacd_host="127.0.0.1", guacd_port=str(guacd_port),
                                        housekeeping_interval="1d")
        engine = make_engine(url)
        upgrade(engine)
        with make_sessionmaker(engine)() as db:
            user, _ = create_local_user(db, "bench", PASSWORD)
            db.add(DesktopType(id="bench", image="none", title_en="Bench", title_de="Bench"))
            db.add(Desktop(id=str(uuid.uuid4()), user=user, desktop_type_id="bench", state="running",
                           address="127.0.0.1", vnc_password_encrypted=encrypt(SECRET, "secret")))
            db.commit()
            self.desktop_id = db.query(Desktop.id).scalar()
        engine.dispose()
        import requests

        self.http = requests.Session()
        login = self.http.post(self.broker.url + "/api/auth/local/login",
                               json={"username": "bench", "password": PASSWORD})
        self.http.headers["Authorization"] = "Bearer " + login.json()["session_token"]

    def open(self, width: int) -> websocket.WebSocket:
        token = self.http.post(f"{self.broker.url}/api/desktops/{self.desktop_id}/connect", json={}).json()["token"]
        ws = websocket.create_connection(
            self.broker.url.replace("http", "ws") + f"/tunnel?token={token}&width={width}&height=768&dpi=96",
            subprotocols=["guacamole"], skip_utf8_validation=True)  # websocket-client's own check is slow
        ws.recv()  # the tunnel UUID
        return ws


def throughput_tunnel(tunnels: Tunnels, seconds: float) -> float:
    ws = tunnels.open(FakeGuacd.STREAM_WIDTH)
    received, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        received += len(ws.recv())
    ws.close()
    return received / (time.monotonic() - started)


def latency_tunnel(tunnels: Tunnels, rounds: int) -> list[float]:
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


def process_usage(pid: int) -> tuple[float, float]:
    """(resident MiB, CPU seconds) of a process and its children (gunicorn's workers)."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    rss = cpu = 0.0
    for p in pids:
        status = Path(f"/proc/{p}/status").read_text()
        rss += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


def idle_tunnels(tunnels: Tunnels, count: int, seconds: float) -> dict[str, float]:
    pid = tunnels.broker.process.pid
    rss_before, _ = process_usage(pid)
    open_sockets = [tunnels.open(800) for _ in range(count)]
    rss_after, cpu_start = process_usage(pid)
    stop = threading.Event()

    def keep_alive(ws):  # what guacamole-common-js does: a ping every 0.5 s
        while not stop.is_set():
            ws.send(encode("", "ping", int(time.time() * 1000)))
            stop.wait(0.5)

    threads = [threading.Thread(target=keep_alive, args=(ws,), daemon=True) for ws in open_sockets]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    _, cpu_end = process_usage(pid)
    stop.set()
    for ws in open_sockets:
        ws.close()
    return {"rss_before": rss_before, "rss_after": rss_after,
            "cpu_percent": 100 * (cpu_end - cpu_start) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--tunnels", type=int, default=100)
    options = parser.parse_args()
    guacd = FakeGuacd()
    with tempfile.TemporaryDirectory() as workdir:
        tunnels = Tunnels(Path(workdir), guacd.port)
        try:
            direct_bps, tunnel_bps = throughput_direct(guacd.port, options.seconds), throughput_tunnel(
                tunnels, options.seconds)
            direct_rtt = statistics.median(latency_direct(guacd.port, options.rounds))
            tunnel_rtt = statistics.median(latency_tunnel(tunnels, options.rounds))
            idle = idle_tunnels(tunnels, options.tunnels, options.seconds)
        finally:
            tunnels.broker.stop()
    mb = 1e6
    print(format_table(["figure", "direct to guacd", "through the broker", "ratio / added", "target"], [
        ["throughput", f"{direct_bps / mb:.1f} MB/s", f"{tunnel_bps / mb:.1f} MB/s",
         f"{tunnel_bps / direct_bps:.2f}", "≥ 0.80"],
        ["round trip p50", f"{direct_rtt * 1e3:.3f} ms", f"{tunnel_rtt * 1e3:.3f} ms",
         f"+{(tunnel_rtt - direct_rtt) * 1e3:.3f} ms", "≤ +1 ms"],
    ]))
    print()
    print(format_table(["idle tunnels", "broker RSS before", "with the tunnels", "per tunnel", "CPU (pings 2/s)"], [
        [str(options.tunnels), f"{idle['rss_before']:.0f} MiB", f"{idle['rss_after']:.0f} MiB",
         f"{(idle['rss_after'] - idle['rss_before']) * 1024 / options.tunnels:.0f} KiB",
         f"{idle['cpu_percent']:.0f} %"],
    ]))


if __name__ == "__main__":
    sys.exit(main())
