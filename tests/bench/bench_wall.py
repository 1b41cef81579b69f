"""Benchmark: the classroom's wall of live pictures for a class, refreshed every 3 s.

    python -m tests.bench.bench_wall [--desktops 35] [--seconds 60] [--interval 3]

N real base desktops (each with a clock ticking in a terminal, so every picture differs), a real
guacd beside them, and `broker serve` on PostgreSQL. Teachers are HTTP clients doing what the
wall's page does every interval: the group's desktops, their marks, then every picture (six at a
time, as a browser does, with If-None-Match). Two runs: one teacher on one broker process (the
baseline), then three teachers spread over two brokers of two worker processes each. Printed per
run: the CPU of the broker processes and of guacd (the wall does not go through guacd: it stays
near zero), bytes per second per teacher, the pictures' age when they arrive (p50/p99), and
pictures grabbed per desktop per interval (distinct pictures any teacher saw): one, whatever the
number of teachers and brokers, because the pictures are shared through the database.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from broker.auth.users import create_local_user
from broker.crypto import encrypt
from broker.db import make_engine, make_sessionmaker, upgrade
from broker.engine import docker_client
from broker.images.table import format_table
from broker.models import Desktop, DesktopType, Group
from broker.rfb import wait_for_greeting
from tests.fixtures.broker import SECRET, start_live_broker
from tests.fixtures.postgres import start_postgres

PASSWORD = "bench password"
TICKING = "while true; do date +%T.%N; sleep 1; done"
PARALLEL_PICTURES = 6  # a browser's connections per host


class Class:
    """N base desktops with a ticking clock, and guacd, on a private network of their own."""

    def __init__(self, count: int):
        self.engine = docker_client()
        for image in ("deskbroker/base:latest", "deskbroker/guacd:latest"):
            self.engine.images.get(image)  # built by scripts/setup.sh or `broker images build`; never here
        self.network = self.engine.networks.create(f"deskbroker-bench-wall-{secrets.token_hex(3)}")
        self.containers, self.passwords = [], []
        self.guacd = self._run("deskbroker/guacd:latest")
        for _ in range(count):
            password = secrets.token_hex(4)
            self.containers.append(self._run("deskbroker/base:latest", environment={"VNC_PASSWORD": password}))
            self.passwords.append(password)
        for container in self.containers:
            wait_for_greeting(self.address(container), 5901, 60)
            container.exec_run(
                ["setpriv", "--reuid=user", "--regid=user", "--init-groups", "env", "DISPLAY=:1", "xterm",
                 "-geometry", "100x30+0+0", "-e", "sh", "-c", TICKING],
                detach=True,
            )  # fmt: skip

    def _run(self, image: str, **options):
        container = self.engine.containers.run(image, detach=True, network=self.network.name, **options)
        container.reload()
        return container

    def address(self, container) -> str:
        return container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]

    def cpu_seconds(self, container) -> float:
        return container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9

    def remove(self) -> None:
        for container in [*self.containers, self.guacd]:
            container.remove(force=True)
        self.network.remove()


def seed(database_url: str, lesson: Class, teachers: int) -> int:
    """The teachers, a group with one student per desktop, and the desktops as running; the group's id."""
    engine = make_engine(database_url)
    upgrade(engine)
    with make_sessionmaker(engine)() as db:
        group = Group(key="bench", name="Bench class")
        db.add(group)
        for number in range(teachers):
            teacher, _ = create_local_user(db, f"teacher{number}", PASSWORD, ["teacher"])
            group.members.append(teacher)
        db.add(DesktopType(id="base", image="deskbroker/base:latest", title_en="Base", title_de="Basis"))
        for number, (container, password) in enumerate(zip(lesson.containers, lesson.passwords, strict=True)):
            student, _ = create_local_user(db, f"student{number:02}", PASSWORD)
            group.members.append(student)
            db.add(
                Desktop(
                    id=str(uuid.uuid4()),
                    user=student,
                    desktop_type_id="base",
                    state="running",
                    address=lesson.address(container),
                    vnc_password_encrypted=encrypt(SECRET, password),
                )
            )
        db.commit()
        group_id = group.id
    engine.dispose()
    return group_id


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and all its descendants (gunicorn's workers), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children[int(fields[1])].append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Teacher(threading.Thread):
    """Does what the wall's page does, every interval, until told to stop."""

    def __init__(self, url: str, username: str, group_id: int, interval: float, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.group_id, self.interval, self.stop = url, group_id, interval, stop
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=PARALLEL_PICTURES)
        self.http.mount("http://", adapter)
        login = self.http.post(f"{url}/api/auth/local/login", json={"username": username, "password": PASSWORD})
        self.http.headers["Authorization"] = "Bearer " + login.json()["session_token"]
        self.etags: dict[str, str] = {}
        self.bytes = 0
        self.ages: list[float] = []
        self.seen: dict[str, set[str]] = defaultdict(set)  # desktop -> when its pictures were taken
        self.failures = 0

    def picture(self, desktop_id: str) -> None:
        etag = self.etags.get(desktop_id)
        answer = self.http.get(
            f"{self.url}/api/teacher/desktops/{desktop_id}/thumbnail",
            headers={"If-None-Match": etag} if etag else {},
            timeout=30,
        )
        if answer.status_code not in (200, 304):
            self.failures += 1
            return
        self.bytes += len(answer.content)
        self.etags[desktop_id] = answer.headers.get("ETag", "")
        taken = answer.headers["X-Picture-Taken-At"]
        self.ages.append(time.time() - float(taken))
        self.seen[desktop_id].add(taken)

    def run(self) -> None:
        group = f"{self.url}/api/teacher/groups/{self.group_id}"
        with ThreadPoolExecutor(PARALLEL_PICTURES) as pool:
            while not self.stop.is_set():
                listing = self.http.get(group + "/desktops", timeout=30)
                marks = self.http.get(group + "/state", timeout=30)
                self.bytes += len(listing.content) + len(marks.content)
                list(pool.map(self.picture, [desktop["id"] for desktop in listing.json()["desktops"]]))
                # The page waits the interval after a round ends (classroom.js: setTimeout).
                self.stop.wait(self.interval)


def measure(urls, pids, lesson: Class, group_id: int, teachers: int, seconds: float, interval: float) -> dict:
    stop = threading.Event()
    clients = [
        Teacher(urls[number % len(urls)], f"teacher{number}", group_id, interval, stop) for number in range(teachers)
    ]
    broker_before = sum(tree_cpu_seconds(pid) for pid in pids)
    guacd_before = lesson.cpu_seconds(lesson.guacd)
    started = time.monotonic()
    for client in clients:
        client.start()
    time.sleep(seconds)
    stop.set()
    for client in clients:
        client.join()
    elapsed = time.monotonic() - started
    broker_cpu = sum(tree_cpu_seconds(pid) for pid in pids) - broker_before
    guacd_cpu = lesson.cpu_seconds(lesson.guacd) - guacd_before
    ages = sorted(age for client in clients for age in client.ages)
    seen: dict[str, set[str]] = defaultdict(set)
    for client in clients:
        for desktop_id, taken in client.seen.items():
            seen[desktop_id] |= taken
    intervals = elapsed / interval
    return {
        "broker_cpu": broker_cpu / elapsed,
        "guacd_cpu": guacd_cpu / elapsed,
        "bytes_per_teacher": sum(client.bytes for client in clients) / elapsed / teachers,
        "age_p50": statistics.median(ages) if ages else float("nan"),
        "age_p99": ages[min(len(ages) - 1, int(len(ages) * 0.99))] if ages else float("nan"),
        "pictures_per_interval": statistics.mean(len(taken) for taken in seen.values()) / intervals if seen else 0,
        "failures": sum(client.failures for client in clients),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desktops", type=int, default=35, help="running desktops in the class (default 35)")
    parser.add_argument("--seconds", type=float, default=60, help="how long each run watches (default 60)")
    parser.add_argument("--interval", type=float, default=3, help="the wall's refresh interval (default 3 s)")
    options = parser.parse_args()

    print(f"starting {options.desktops} desktops …", file=sys.stderr)
    lesson = Class(options.desktops)
    postgres = start_postgres()
    brokers = []
    try:
        database_url = postgres.new_database()
        group_id = seed(database_url, lesson, teachers=3)
        settings = {"housekeeping_interval": "1d"}
        workdir = Path(postgres.basedir)
        brokers.append(start_live_broker(workdir, database_url, **settings))
        time.sleep(options.interval)  # the desktops' first pictures are not part of a run
        rows = []
        baseline = measure(
            [brokers[0].url], [brokers[0].process.pid], lesson, group_id, 1, options.seconds, options.interval
        )
        rows.append(("1 teacher, 1 broker process", baseline))
        brokers[0].stop()
        brokers = [start_live_broker(workdir, database_url, workers="2", **settings) for _ in range(2)]
        many = measure(
            [broker.url for broker in brokers],
            [broker.process.pid for broker in brokers],
            lesson,
            group_id,
            3,
            options.seconds,
            options.interval,
        )
        rows.append(("3 teachers, 2 brokers × 2 workers", many))
    finally:
        for broker in brokers:
            broker.stop()
        postgres.destroy()
        lesson.remove()

    print(
        f"\nThe wall: {options.desktops} running desktops, refreshed every {options.interval:g} s, "
        f"{options.seconds:g} s per run\n"
    )
    print(format_table(HEADERS, [row(name, figures, baseline) for name, figures in rows]))


HEADERS = ["run", "broker CPU", "guacd CPU", "per teacher", "age p50", "age p99", "pictures/desktop/interval", "failed"]


def row(name: str, figures: dict, baseline: dict) -> list[str]:
    """One run's figures; CPU and pictures also as ratios to the baseline run (one teacher, one process)."""
    cpu, pictures = figures["broker_cpu"], figures["pictures_per_interval"]
    return [
        name,
        f"{cpu * 100:.1f} % of a core ({cpu / baseline['broker_cpu']:.2f}×)",
        f"{figures['guacd_cpu'] * 100:.2f} %",
        f"{figures['bytes_per_teacher'] / 1024:.0f} KiB/s",
        f"{figures['age_p50']:.2f} s",
        f"{figures['age_p99']:.2f} s",
        f"{pictures:.2f} ({pictures / baseline['pictures_per_interval']:.2f}×)",
        str(figures["failures"]),
    ]


if __name__ == "__main__":
    sys.exit(main())
