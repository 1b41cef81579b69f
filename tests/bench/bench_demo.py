"""Benchmark: a teacher's demo to a class.

    python -m tests.bench.bench_demo [--students 35] [--seconds 10]

A real desktop drawing without end (an xterm listing files) behind the real guacd, and `broker serve`
(gunicorn + gevent, SQLite). The teacher has their own desktop open (a control tunnel); the students
are simulated as their browsers behave: each listens to /api/events, and when the `demo` event comes it
asks for a `demo` grant, opens the tunnel and draws, answering every `sync` (one thread reads all
the students' tunnels, so the client's own cost stays small).

Figures:
- start to all drawn: from the teacher's PUT .../demo to the last student's first complete frame
  (an image, then a `sync`); it includes the students noticing the event (/api/events polls each second);
- frame latency: for every `sync` (guacd stamps each frame's end in ms, on a clock of its own), how
  much later it arrived than the fastest frame of the run did (so 0 is the best the path allows); the
  teacher's tunnel alone before the demo is the baseline, then the students' and the teacher's during
  the demo;
- CPU of the broker (all its processes) and of guacd's container, per cent of one core, while the
  teacher alone watches and while the class does too; and how many guacd connections the demo used;
- end to all back: from the teacher's DELETE .../demo to the last student's demo tunnel closed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket
from sqlalchemy import select

from broker.auth.users import create_local_user
from broker.crypto import encrypt
from broker.db import make_engine, make_sessionmaker, upgrade
from broker.images.table import format_table
from broker.models import Connection, Desktop, DesktopType, Group
from broker.tunnels.protocol import encode, parse
from tests.bench.bench_tunnel import BusyDesktop
from tests.fixtures.broker import SECRET, start_live_broker
from tests.fixtures.fake_guacd import process_usage

PASSWORD = "bench password"


@dataclass
class Tunnel:
    """One viewer's tunnel as the reader sees it."""

    ws: websocket.WebSocket
    opened_at: float  # time.time() when the tunnel was asked for
    connected_at: float = 0.0  # its first word (the tunnel's uuid) arrived
    student: str = ""
    problem: str = ""  # why it closed early, if it did
    person: Person | None = None  # a student's: opened again when it closes during the demo
    desktop_id: str = ""
    drawn_at: float | None = None  # the first sync after an image
    imaged: bool = False
    stamps: list[tuple[float, float]] = field(default_factory=list)  # (arrival, guacd's stamp), seconds
    closed_at: float | None = None


class Reader:
    """Reads every tunnel as guacamole-common-js does, a thread each (blocking: a timeout inside a large
    frame would lose it): syncs answered, each sync's delay after guacd stamped it noted (while
    `measuring`); one more thread pings them all twice a second. (One selector for all would miss
    frames websocket-client has already buffered, and guacd waits for their syncs.)"""

    def __init__(self):
        self.tunnels: list[Tunnel] = []
        self.measuring = False
        self.reopen = True  # a student's tunnel that closes is opened again, as the viewer does
        self.reopened = 0
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = [threading.Thread(target=self._ping, daemon=True)]
        self.threads[0].start()

    def add(self, tunnel: Tunnel) -> None:
        self.tunnels.append(tunnel)
        thread = threading.Thread(target=self._read, args=(tunnel,), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _ping(self) -> None:
        while not self.stop.wait(0.5):
            for tunnel in list(self.tunnels):
                if tunnel.closed_at is None:
                    try:
                        tunnel.ws.send(encode("", "ping", int(time.time() * 1000)))
                    except Exception:
                        pass

    def _read(self, tunnel: Tunnel) -> None:
        while True:
            try:
                message = tunnel.ws.recv()
            except Exception as error:
                tunnel.problem = tunnel.problem or type(error).__name__
                message = ""
            now = time.time()
            if not message:
                tunnel.closed_at = tunnel.closed_at or now
                if self.reopen and tunnel.person is not None and not self.stop.is_set():
                    time.sleep(1)  # the viewer's first back-off
                    self.reopened += 1
                    self.add(tunnel.person.open(tunnel.desktop_id, "demo"))
                return
            for opcode, *args in parse(message, 1 << 22):
                if opcode in ("img", "png"):
                    tunnel.imaged = True
                elif opcode == "sync":
                    tunnel.ws.send(encode("sync", args[0]))
                    if tunnel.imaged and tunnel.drawn_at is None:
                        tunnel.drawn_at = now
                    if self.measuring:
                        tunnel.stamps.append((now, int(args[0]) / 1000))
                elif opcode == "error":
                    tunnel.problem = tunnel.problem or f"error {args}"
                    tunnel.closed_at = tunnel.closed_at or now

    def close(self) -> None:
        self.stop.set()
        for tunnel in self.tunnels:
            tunnel.ws.close()
        for thread in self.threads:
            thread.join(5)


class Person:
    def __init__(self, broker_url: str, username: str):
        self.url, self.username = broker_url, username
        self.http = requests.Session()
        login = self.http.post(f"{broker_url}/api/auth/local/login", json={"username": username, "password": PASSWORD})
        login.raise_for_status()
        self.token = login.json()["session_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def open(self, desktop_id: str, mode: str) -> Tunnel:
        asked = time.time()
        grant = self.http.post(f"{self.url}/api/desktops/{desktop_id}/connect", json={"mode": mode})
        grant.raise_for_status()
        ws = websocket.create_connection(
            self.url.replace("http", "ws") + f"/tunnel?token={grant.json()['token']}&width=1280&height=800&dpi=96",
            subprotocols=["guacamole"],
            skip_utf8_validation=True,  # websocket-client's own check is slow
        )
        ws.recv()  # the tunnel's uuid
        return Tunnel(
            ws, asked, time.time(), self.username, person=self if mode == "demo" else None, desktop_id=desktop_id
        )


def follow_demos(student: Person, reader: Reader, dropped: list[str], stop: threading.Event) -> None:
    """What a student's viewer does: on a `demo` event, open the demo (view only). A dropped event
    stream is opened again after a moment, as EventSource does; the drops are counted."""
    while not stop.is_set():
        try:
            with student.http.get(f"{student.url}/api/events", stream=True, timeout=(10, None)) as events:
                event = None
                for line in events.iter_lines(decode_unicode=True):
                    if stop.is_set():
                        return
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event == "demo":
                        demo = json.loads(line.removeprefix("data: "))["demo"]
                        if demo and not any(t.student == student.username for t in reader.tunnels):
                            reader.add(student.open(demo["desktop_id"], "demo"))
        except Exception as error:
            if not stop.is_set():
                dropped.append(f"{student.username}: {type(error).__name__}")
                time.sleep(3)  # EventSource's retry (broker.desktops.events.RETRY_MILLISECONDS)


def container_cpu_seconds(container) -> float:
    return container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


class Usage:
    """CPU of the broker's processes and of guacd's container over a stretch of time, % of one core."""

    def __init__(self, broker_pid: int, guacd):
        self.pid, self.guacd = broker_pid, guacd

    def __enter__(self) -> Usage:
        self.started = time.monotonic()
        self.broker_start, self.guacd_start = process_usage(self.pid)[1], container_cpu_seconds(self.guacd)
        return self

    def __exit__(self, *_exc) -> None:
        held = time.monotonic() - self.started
        self.broker = 100 * (process_usage(self.pid)[1] - self.broker_start) / held
        self.guacd_percent = 100 * (container_cpu_seconds(self.guacd) - self.guacd_start) / held


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def setup_class(database_url: str, students: int, desktop_address: str, vnc_password: str) -> tuple[int, str]:
    """tess (a teacher) with a running desktop, and the students, all in 5a: (the group's id, the desktop's)."""
    engine = make_engine(database_url)
    upgrade(engine)
    with make_sessionmaker(engine)() as db:
        group = Group(key="5a", name="Klasse 5a")
        db.add(group)
        teacher, _ = create_local_user(db, "tess", PASSWORD, ["teacher"], "Tess")
        group.members.append(teacher)
        for n in range(students):
            student, _ = create_local_user(db, f"student{n:02d}", PASSWORD, [], f"Student {n}")
            group.members.append(student)
        db.add_all([DesktopType(id="xterm", image="none", title_en="Busy", title_de="Beschäftigt")])
        desktop = Desktop(
            id="bench-desktop",
            user=teacher,
            desktop_type_id="xterm",
            state="running",
            address=desktop_address,
            vnc_password_encrypted=encrypt(SECRET, vnc_password),
        )
        db.add(desktop)
        db.commit()
        ids = group.id, desktop.id
    engine.dispose()
    return ids


def drawn_by(reader: Reader) -> dict[str, float]:
    """When each student's viewer first drew the demo (over any of their tunnels)."""
    drawn: dict[str, float] = {}
    for tunnel in reader.tunnels:
        if tunnel.person is not None and tunnel.drawn_at:
            drawn[tunnel.student] = min(drawn.get(tunnel.student, tunnel.drawn_at), tunnel.drawn_at)
    return drawn


def first_tunnels(reader: Reader) -> dict[str, Tunnel]:
    firsts: dict[str, Tunnel] = {}
    for tunnel in reader.tunnels:
        if tunnel.person is not None:
            firsts.setdefault(tunnel.student, tunnel)
    return firsts


def early_ends(database_url: str) -> dict[str, int]:
    """The demo tunnels that ended during the demo, by the reason the broker logged."""
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as db:
        reasons = list(
            db.scalars(select(Connection.end_reason).where(Connection.mode == "demo", Connection.ended_at.is_not(None)))
        )
    engine.dispose()
    return dict(Counter(reasons))


def guacd_connections(database_url: str, mode: str) -> int:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as db:
        found = set(db.scalars(select(Connection.guacd_connection_id).where(Connection.mode == mode)))
    engine.dispose()
    return len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=35, help="how many students (35: a class)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each stretch is measured")
    options = parser.parse_args()

    busy = BusyDesktop()
    reader, stop, dropped, listeners = Reader(), threading.Event(), [], []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            database_url = f"sqlite:///{Path(workdir) / 'demo.db'}"
            group_id, desktop_id = setup_class(
                database_url, options.students, busy.address(busy.desktop), busy.password
            )
            broker = start_live_broker(
                Path(workdir), database_url, guacd_host=busy.address(busy.guacd), housekeeping_interval="1d"
            )
            try:
                teacher = Person(broker.url, "tess")
                students = [Person(broker.url, f"student{n:02d}") for n in range(options.students)]
                for student in students:
                    listener = threading.Thread(target=follow_demos, args=(student, reader, dropped, stop), daemon=True)
                    listener.start()
                    listeners.append(listener)
                own = teacher.open(desktop_id, "control")  # the teacher's own viewer
                reader.add(own)
                time.sleep(3)  # past the first frames and the event streams' start

                reader.measuring = True
                with Usage(broker.process.pid, busy.guacd) as alone:
                    time.sleep(options.seconds)
                reader.measuring = False
                baseline_stamps = list(own.stamps)
                own.stamps.clear()

                started = time.time()
                shown = teacher.http.put(
                    f"{broker.url}/api/teacher/groups/{group_id}/demo", json={"desktop_id": desktop_id}
                )
                shown.raise_for_status()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and len(drawn_by(reader)) < options.students:
                    time.sleep(0.05)
                drawn = drawn_by(reader)
                if len(drawn) < options.students:
                    raise RuntimeError(f"only {len(drawn)} of {options.students} students drew the demo in 120 s")
                all_drawn = max(drawn.values()) - started
                firsts = first_tunnels(reader)
                each_drawn = [drawn[student] - tunnel.opened_at for student, tunnel in firsts.items()]
                each_open = [tunnel.connected_at - tunnel.opened_at for tunnel in firsts.values()]
                first_asked = min(tunnel.opened_at for tunnel in firsts.values()) - started
                time.sleep(1)

                reader.measuring = True
                with Usage(broker.process.pid, busy.guacd) as class_:
                    time.sleep(options.seconds)
                reader.measuring = False
                demo_tunnels = [t for t in reader.tunnels if t.person is not None]
                student_stamps = [stamp for t in demo_tunnels for stamp in t.stamps]
                teacher_stamps = list(own.stamps)
                connections = guacd_connections(database_url, "demo")
                early = early_ends(database_url)

                reader.reopen = False
                demo_tunnels = [t for t in demo_tunnels if t.closed_at is None]

                ended = time.time()
                teacher.http.delete(f"{broker.url}/api/teacher/groups/{group_id}/demo").raise_for_status()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not all(t.closed_at for t in demo_tunnels):
                    time.sleep(0.05)
                closed = [t.closed_at for t in demo_tunnels if t.closed_at]
                all_back = (max(closed) - ended) if len(closed) == len(demo_tunnels) else float("nan")
                trouble = [line for line in broker.output().splitlines() if "WARNING" in line or "ERROR" in line]
            finally:
                stop.set()
                reader.close()
                broker.stop()
    finally:
        busy.remove()

    # guacd stamps frames with a clock of its own: the delays count from the fastest frame seen at all.
    offset = min(arrival - stamp for arrival, stamp in baseline_stamps + student_stamps + teacher_stamps)

    def delays(stamps: list[tuple[float, float]]) -> list[float]:
        return [arrival - stamp - offset for arrival, stamp in stamps]

    baseline, at_students, at_teacher = delays(baseline_stamps), delays(student_stamps), delays(teacher_stamps)
    ms = 1e3
    if dropped or trouble:
        print("The broker's warnings:", *trouble[-10:], "Dropped event streams:", *dropped[:10], sep="\n  ")
        print()
    print(f"A demo of a busy desktop to {options.students} students (simulated viewers), one broker process")
    print()
    print(
        format_table(
            ["figure", "value"],
            [
                ["start to all students drawn", f"{all_drawn:.2f} s"],
                ["start to the first student's grant asked (the event)", f"{first_asked:.2f} s"],
                [
                    "one student's grant asked to tunnel open, p50 / max",
                    f"{statistics.median(each_open):.2f} s / {max(each_open):.2f} s",
                ],
                [
                    "one student's grant asked to drawn, p50 / max",
                    f"{statistics.median(each_drawn):.2f} s / {max(each_drawn):.2f} s",
                ],
                ["guacd connections the students used", str(connections)],
                ["end to all students' demo tunnels closed", f"{all_back:.2f} s"],
                ["event streams dropped and opened again", str(len(dropped))],
                [
                    "demo tunnels that ended early and were opened again",
                    f"{reader.reopened} " + (f"(the broker logged: {early})" if early else ""),
                ],
            ],
        )
    )
    print()

    def row(name: str, latencies: list[float]) -> list[str]:
        return [
            name,
            str(len(latencies)),
            f"{percentile(latencies, 0.5) * ms:.1f} ms",
            f"{percentile(latencies, 0.99) * ms:.1f} ms",
            f"{percentile(latencies, 0.99) / max(percentile(baseline, 0.99), 1e-3):.2f}",
        ]

    print(
        format_table(
            ["frame latency (beyond the fastest frame)", "frames", "p50", "p99", "p99 vs baseline"],
            [
                row("teacher alone (baseline)", baseline),
                row(f"{options.students} students during the demo", at_students),
                row("teacher during the demo", at_teacher),
            ],
        )
    )
    print()
    print(
        format_table(
            ["CPU (% of one core)", "broker", "guacd", "broker ratio", "guacd ratio"],
            [
                ["teacher alone (baseline)", f"{alone.broker:.0f} %", f"{alone.guacd_percent:.0f} %", "1.00", "1.00"],
                [
                    f"with {options.students} students",
                    f"{class_.broker:.0f} %",
                    f"{class_.guacd_percent:.0f} %",
                    f"{class_.broker / max(alone.broker, 0.1):.1f}",
                    f"{class_.guacd_percent / max(alone.guacd_percent, 0.1):.1f}",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
