"""Benchmark: what one desktop of each type costs the server, idle and in use, so an admin can size
a server ("a class of 30 XFCE desktops needs ...").

    python -m tests.bench.bench_capacity [--types base xfce chromium] [--desktops 3] [--seconds 20]

For each type, `--desktops` desktops are started through the broker (in-process, SQLite, the real
engine and images). Idle: after they settled, each one's memory (as `docker stats` counts it) and
CPU over `--seconds`. In use: a viewer follows each screen (an RFB client asking for every change,
as guacd does) while a terminal in it prints a long listing ten times a second (scrolling text,
about what typing and reading in an editor cost), or, on `chromium`, while Chromium shows a page
that grows ten times a second; the same figures again. The
baseline in the same run is the machine's idle CPU over the same window (one core = 100 %).
Everything it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import docker

from broker import crypto
from broker.engine import docker_client
from broker.images.build import build_images
from broker.images.table import format_table
from broker.models import Desktop
from broker.rfb import RFBClient, RFBError
from tests.bench.bench_provisioning import Broker
from tests.fixtures.broker import SECRET
from tests.fixtures.desktops import remove_everything_of
from tests.support.container_usage import cpu_seconds, memory_mib

SETTLE_SECONDS = 15
CLASS = 30
WORKLOAD = "while :; do ls -lR /usr/share/doc | head -n 300; sleep 0.1; done"
# A browser desktop is in use when its browser shows a page that changes: a list growing ten times a second.
PAGE = (
    "data:text/html,<body style='font:14px monospace'><script>setInterval(() => {"
    "document.body.prepend(Object.assign(document.createElement('div'), {textContent: Date()}))}, 100)"
    "</script></body>"
)
IN_USE = {"chromium": ["chromium", "--no-first-run", "--start-maximized", PAGE]}


def host_cpu_seconds() -> float:
    """All the machine's busy CPU time so far (/proc/stat, user + nice + system)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / 100


def usage(client: docker.DockerClient, refs: list[str], seconds: float) -> tuple[list[float], list[float]]:
    """Each container's memory at the end, and its CPU share of one core over `seconds`."""
    before = [cpu_seconds(client, ref) for ref in refs]
    time.sleep(seconds)
    after = [cpu_seconds(client, ref) for ref in refs]
    return [memory_mib(client, ref) for ref in refs], [(b - a) / seconds for a, b in zip(before, after)]


def measure(client: docker.DockerClient, workdir: Path, type_id: str, count: int, seconds: float) -> list[str]:
    instance = "bench" + secrets.token_hex(3)
    try:
        broker = Broker(workdir, instance, desktops_total="0")
        broker.only(type_id)
        started = [broker.call(f"/api/container/start?desktop_type={type_id}", broker.person()) for _ in range(count)]
        refs = [desktop["container_id"] for desktop in started]
        time.sleep(SETTLE_SECONDS)
        idle_memory, idle_cpu = usage(client, refs, seconds)

        with broker.lifecycle.sessions() as db:
            targets = [
                (row.address, row.desktop_type.vnc_port, crypto.decrypt(SECRET, row.vnc_password_encrypted))
                for row in (db.get(Desktop, desktop["id"]) for desktop in started)
            ]
        for ref in refs:
            client.containers.get(ref).exec_run(
                IN_USE.get(type_id, ["xterm", "-geometry", "120x40", "-e", "sh", "-c", WORKLOAD]),
                user="user",
                environment={"DISPLAY": ":1"},
                detach=True,
            )
        viewers = [
            threading.Thread(target=follow, args=(target, seconds + SETTLE_SECONDS / 3), daemon=True)
            for target in targets
        ]
        for viewer in viewers:
            viewer.start()
        time.sleep(SETTLE_SECONDS / 3)
        busy_memory, busy_cpu = usage(client, refs, seconds)
        for viewer in viewers:
            viewer.join()
    finally:
        remove_everything_of(client, instance)

    memory_in_use, cpu_in_use = statistics.median(busy_memory), statistics.median(busy_cpu)
    return [
        type_id,
        f"{statistics.median(idle_memory):.0f} MiB",
        f"{statistics.median(idle_cpu) * 100:.1f} %",
        f"{memory_in_use:.0f} MiB",
        f"{cpu_in_use * 100:.0f} %",
        f"{CLASS * memory_in_use / 1024:.1f} GiB, {CLASS * cpu_in_use:.1f} cores",
    ]


def follow(target: tuple[str, int, str], seconds: float) -> None:
    host, port, password = target
    try:
        with RFBClient(host, port, password) as viewer:
            viewer.follow(seconds)
    except RFBError as error:  # said, and the figures stand: a viewer that saw nothing change cost less
        print(f"the viewer of {host} stopped early: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", nargs="+", default=["base", "xfce"])
    parser.add_argument("--desktops", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    client = docker_client()
    build_images(client, args.types, progress=lambda _line: None)  # cached when they are up to date
    machine_before = host_cpu_seconds()
    time.sleep(args.seconds)
    machine_idle = (host_cpu_seconds() - machine_before) / args.seconds
    with tempfile.TemporaryDirectory(prefix="deskbroker-bench-") as workdir:
        rows = [measure(client, Path(workdir), type_id, args.desktops, args.seconds) for type_id in args.types]
    print(
        f"\nper desktop, median of {args.desktops} per type; CPU as a share of one core over {args.seconds:.0f} s; "
        f"the machine's own load before the run (baseline): {machine_idle * 100:.0f} % of one core\n"
    )
    print(
        format_table(
            ["type", "idle memory", "idle CPU", "in use: memory", "in use: CPU", f"a class of {CLASS} in use needs"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
