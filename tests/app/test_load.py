"""Load (#8): a school's class of 100 at the same minute on one server, and 500 idle tunnels on
one broker process. Real parts: `broker serve` (gunicorn + gevent) on PostgreSQL, desktops on
the Docker engine, a pool of guacd sized as the quickstart sizes it; only the idle tunnels talk
to a guacd stand-in, so that what is measured is the broker's own cost per tunnel."""

from __future__ import annotations

import contextlib
import math
import os
import re
import resource
import statistics
import threading
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import websocket
from sqlalchemy import func, select, text

from broker.auth.users import create_local_user
from broker.db import make_engine, make_sessionmaker, upgrade
from broker.desktops import make_provider
from broker.desktops.catalog import sync_catalog
from broker.desktops.naming import home_volume_name, public_volume_name
from broker.desktops.provider import BROKER_LABEL
from broker.images.build import build_images
from broker.models import AuthSession, Connection, Desktop, TunnelToken
from broker.tier import pool_size
from broker.tunnels.protocol import encode
from tests.fixtures.broker import make_settings
from tests.fixtures.desktops import desktop_overrides, run_guacd_pool
from tests.fixtures.fake_guacd import FakeGuacd, TunnelWorld, hold_idle_tunnels, process_usage
from tests.fixtures.tunnel_viewer import Viewer
from tests.support.container_usage import memory_mib

pytestmark = pytest.mark.reliability

PEOPLE = 100
ARRIVALS_SECONDS = 30  # the class arrives within half a minute, evenly, each with their own browser
PASSWORD = "a load test password"
WORKERS = "2"
RUN_SECONDS = 300  # the whole class, signed in to signed out
TUNNEL_ATTEMPTS = 3
# p99 targets per endpoint, seconds. The class's 100 desktops starting within a minute keep both
# cores of the test machine busy (the engine, Xvnc, guacd, scrypt): these are waits a class would
# still accept then, not the broker's own speed (see its CPU figure).
DASHBOARD_TOLD = "dashboard told the desktop runs"
DASHBOARD_NEVER = 60  # seconds: never told, the person's run fails; slower is a figure
TARGETS = {
    "POST /api/auth/local/login": 15,  # scrypt: about a tenth of a second of CPU each
    "GET /api/container/list": 10,
    "GET /api/events": 10,  # the dashboard's stream, open while the desktop starts
    "POST /api/container/start": 60,  # DESKBROKER_DESKTOP_START_TIMEOUT's default
    DASHBOARD_TOLD: 5,  # its event stream, after the start's answer
    "POST /api/desktops/ID/connect": 10,
    "WSS /tunnel, open → first frame": 5,  # a try again after a hung guacd connection included
    "POST /api/container/stop": 30,
    "POST /api/container/remove": 15,
    "POST /api/auth/logout": 10,
}
TUNNEL_P50 = 1.5  # seconds: the class sees its desktop about as soon as it asked
# Where the tunnel's time goes, as the viewer sees it: the connect request and the WebSocket until
# the tunnel's uuid, the broker's guacd handshake (its turn and the handshake itself: the stream
# begins), guacd's first frame. The broker's log splits the handshake into its turn and itself.
OPEN_STEPS = ("connect → tunnel's uuid", "uuid → guacd's stream (turn + handshake)", "guacd's stream → first frame")
HANDSHAKE_LOG = re.compile(
    r"on guacd (\S+): token and desktop ([\d.]+) s, turn after ([\d.]+) s, handshake ([\d.]+) s, "
    r"logged in ([\d.]+) s, open after ([\d.]+) s"
)
IDLE_TUNNELS = 500
IDLE_SECONDS = 10
IDLE_KIB_PER_TUNNEL = 200
# Idle is not silent: per tunnel and second guacd sends a sync and the viewer answers it, and the
# viewer pings twice (answered by the broker): 3,000 WebSocket messages a second for 500.
IDLE_CPU_PERCENT = 30


@dataclass
class Call:
    endpoint: str
    started: float
    seconds: float
    status: int  # 0: no answer at all (refused, timed out)


@dataclass
class Calls:
    """Every request of the run, from all the people's threads."""

    items: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, started: float, status: int) -> None:
        with self.lock:
            self.items.append(Call(endpoint, started, time.monotonic() - started, status))

    def http(self, endpoint: str, session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        try:
            answer = session.request(method, url, timeout=kwargs.pop("timeout", 60), **kwargs)
        except requests.RequestException as error:
            self.add(endpoint, started, 0)
            raise AssertionError(f"{endpoint}: no answer ({error})") from error
        self.add(endpoint, started, answer.status_code)
        assert answer.ok, f"{endpoint}: {answer.status_code} {answer.text[:300]}"
        return answer

    def by_endpoint(self) -> dict[str, list[Call]]:
        grouped = defaultdict(list)
        for call in self.items:
            grouped[call.endpoint].append(call)
        return grouped


def machine_busy() -> tuple[int, int]:
    """All cores' busy and total time so far, in clock ticks (/proc/stat's first line)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of all values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class School:
    """`broker serve` with two gevent workers on PostgreSQL, the Docker engine with the light `base`
    desktop, a pool of guacd on the desktops' private network (one per core, at least two, as the
    quickstart's), and PEOPLE local accounts."""

    def __init__(self, docker, database_url: str, instance: str, broker_factory):
        self.docker, self.database_url, self.instance = docker, database_url, instance
        self.network = f"{instance}-desktops"
        build_images(docker, ["base", "netguard"], progress=lambda _line: None)
        engine = make_engine(database_url)
        upgrade(engine)
        overrides = desktop_overrides(instance, desktop_start_timeout="60s", workers=WORKERS)
        provider = make_provider(make_settings(database_url=database_url, **overrides))
        provider.ensure_network()
        with make_sessionmaker(engine)() as db:
            sync_catalog(db, provider.catalog())
            self.subjects = [create_local_user(db, f"pupil{n:03}", PASSWORD)[0].subject for n in range(PEOPLE)]
            db.commit()
        engine.dispose()
        self.guacd_running = contextlib.ExitStack()
        pool = self.guacd_running.enter_context(run_guacd_pool(docker, instance, self.network, pool_size()))
        self.guacds = [container for container, _address in pool]
        hosts = ",".join(f"{address}:4822" for _container, address in pool)
        try:
            self.broker = broker_factory(database_url, **overrides, guacd_hosts=hosts)
        except BaseException:  # a broker that does not start leaves no guacd running
            self.guacd_running.close()
            raise

    def close(self) -> None:
        self.broker.stop()
        with contextlib.suppress(Exception):
            for n, guacd in enumerate(self.guacds, 1):  # next to the broker's
                (self.broker.log.parent / f"guacd-{n}.log").write_bytes(guacd.logs())
        self.guacd_running.close()

    def guacd_report(self) -> tuple[str, str]:
        """Each guacd's container state and its last log lines, for a failure's message."""
        states, lines = [], []
        for guacd in self.guacds:
            guacd.reload()
            state = guacd.attrs["State"]
            states.append(f"{guacd.name} {state['Status']} (exit {state['ExitCode']}, OOM {state['OOMKilled']})")
            lines.append(f"{guacd.name}:\n" + guacd.logs(tail=20).decode(errors="replace"))
        return "; ".join(states), "\n".join(lines)

    def of_instance(self, kind: str) -> list:
        return getattr(self.docker, kind).list(
            filters={"label": f"{BROKER_LABEL}={self.instance}"}, **({"all": True} if kind == "containers" else {})
        )

    def memory_mib(self, container_ids: list[str]) -> list[float]:
        """Each container's memory in use (without the page cache), as `docker stats` shows it."""

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda ref: memory_mib(self.docker, ref), container_ids))


class Dashboard:
    """The dashboard's server-sent events (/api/events), read as the browser's EventSource does."""

    def __init__(self, calls: Calls, url: str, token: str):
        started = time.monotonic()
        self.answer = requests.get(
            url + "/api/events", headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=60
        )
        calls.add("GET /api/events", started, self.answer.status_code)
        assert self.answer.ok, f"GET /api/events: {self.answer.status_code}"
        self.running = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(requests.RequestException, AttributeError):  # closed under its feet
            for line in self.answer.iter_lines(chunk_size=None):  # each event as it comes
                if line.startswith(b"data: ") and b'"state":"running"' in line:
                    self.running.set()
                    return

    def close(self) -> None:
        self.answer.close()


@dataclass
class Class:
    """PEOPLE arriving within ARRIVALS_SECONDS: sign in, open the dashboard (its list and event stream),
    start a desktop and see the dashboard say it runs, open it and hold the tunnel until every one is
    open, move the mouse and type, close it, stop and remove the desktop, sign out."""

    school: School
    calls: Calls = field(default_factory=Calls)
    opened: int = 0
    tunnel_retries: int = 0
    dropped: list[tuple[str, list[str]]] = field(default_factory=list)  # open tunnels that ended: how
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # OPEN_STEPS' seconds
    failures: list[str] = field(default_factory=list)
    all_open: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)  # once the server's use is measured
    lock: threading.Lock = field(default_factory=threading.Lock)

    INPUT = "".join(encode("mouse", 100 + 7 * i, 100 + 5 * i, 0) for i in range(30)) + "".join(
        encode("key", keysym, pressed) for keysym in b"hallo klasse 8b" for pressed in (1, 0)
    )

    def person(self, n: int) -> None:
        time.sleep(n * ARRIVALS_SECONDS / PEOPLE)
        url, calls = self.school.broker.url, self.calls
        http = requests.Session()
        # One request per connection, as the broker gets them from the production proxy (nginx sends
        # `Connection: close` upstream); so no request races gunicorn's closing of an idle keep-alive.
        http.headers["Connection"] = "close"
        try:
            token = calls.http(
                "POST /api/auth/local/login",
                http,
                "post",
                url + "/api/auth/local/login",
                json={"username": f"pupil{n:03}", "password": PASSWORD},
            ).json()["session_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            calls.http("GET /api/container/list", http, "get", url + "/api/container/list")
            dashboard = Dashboard(calls, url, token)
            try:
                desktop = calls.http(
                    "POST /api/container/start",
                    http,
                    "post",
                    url + "/api/container/start?desktop_type=base",
                    timeout=180,
                ).json()
                answered = time.monotonic()
                assert dashboard.running.wait(DASHBOARD_NEVER), (
                    f"the dashboard was not told within {DASHBOARD_NEVER} s that the desktop runs"
                )
                calls.add(DASHBOARD_TOLD, answered, 200)
            finally:
                dashboard.close()
            viewer = self.open_desktop(http, desktop["id"])
            try:
                viewer = self.use(http, desktop["id"], viewer)
            finally:
                viewer.close()
            calls.http(
                "POST /api/container/stop", http, "post", url + "/api/container/stop?desktop_type=base", timeout=120
            )
            calls.http("POST /api/container/remove", http, "post", url + "/api/container/remove?desktop_type=base")
            calls.http("POST /api/auth/logout", http, "post", url + "/api/auth/logout")
        except Exception as error:
            where = [
                frame.line
                for frame in traceback.extract_tb(error.__traceback__)
                if frame.name in ("person", "open_desktop", "use")
            ]
            with self.lock:
                self.failures.append(f"pupil{n:03} at `{where[-1]}`: {type(error).__name__}: {error}")
            self.all_open.set()  # nobody waits for a tunnel that will not come
            self.go_on.set()
        finally:
            http.close()

    def open_desktop(self, http: requests.Session, desktop_id: str) -> Viewer:
        """Connect and wait for the first frame; after a failure try again with a new token, as the
        viewer does by itself (guacd 1.3 may leave one of 100 connections opened at once hanging)."""
        started = time.monotonic()
        for attempt in range(1, TUNNEL_ATTEMPTS + 1):
            asked = time.monotonic()
            token = self.calls.http(
                "POST /api/desktops/ID/connect",
                http,
                "post",
                f"{self.school.broker.url}/api/desktops/{desktop_id}/connect",
                json={},
            ).json()
            viewer, seen, stream_at = None, [], None
            try:
                viewer = Viewer(self.school.broker.url, token["token"])
                greeted = time.monotonic()
                for opcode, args in viewer.instructions(timeout=30):
                    if opcode == "nop":  # the broker's keep-alive while the handshake waits its turn
                        continue
                    stream_at = stream_at or time.monotonic()
                    seen.append((opcode, args))
                    if opcode in ("sync", "error"):
                        break
            except websocket.WebSocketException as error:
                seen.append(("no answer", [str(error)]))
            if {opcode for opcode, _ in seen} & {"img", "png"}:
                drawn = time.monotonic()
                self.calls.add("WSS /tunnel, open → first frame", started, 101)
                with self.lock:
                    self.tunnel_retries += attempt - 1
                    for step, seconds in zip(OPEN_STEPS, (greeted - asked, stream_at - greeted, drawn - stream_at)):
                        self.steps[step].append(seconds)
                return viewer
            if viewer is not None:
                viewer.close()
            if attempt == TUNNEL_ATTEMPTS:
                self.calls.add("WSS /tunnel, open → first frame", started, 0)
                raise AssertionError(f"no drawing in {attempt} tries, the last ended with {seen[-1:]}")
            time.sleep(1)

    def use(self, http: requests.Session, desktop_id: str, viewer: Viewer) -> Viewer:
        """Hold the tunnel until everyone's is open (and measured) as guacamole-common-js holds it: every
        sync answered (guacd drops a viewer that stops answering), a ping twice a second (the broker
        drops a silent one); then move the mouse and type and see the desktop draw. A tunnel that ends
        on the way is opened again, as the viewer does by itself; the last one is returned."""
        with self.lock:
            self.opened += 1
            if self.opened == PEOPLE:
                self.all_open.set()
        for attempt in range(1, TUNNEL_ATTEMPTS + 1):
            pinged, ended = time.monotonic(), None
            try:
                for opcode, args in viewer.instructions(timeout=RUN_SECONDS):
                    if opcode == "error":
                        ended = (opcode, args)
                    if self.go_on.is_set():
                        break
                    if time.monotonic() - pinged >= 0.5:
                        viewer.ws.send(encode("", "ping", int(time.time() * 1000)))
                        pinged = time.monotonic()
                if self.go_on.is_set() and ended is None:
                    viewer.ws.send(self.INPUT)
                    seen = viewer.until("sync")
                    if seen[-1:] and seen[-1][0] == "sync":
                        return viewer
                    ended = seen[-1] if seen else None
            except (websocket.WebSocketException, OSError) as error:
                ended = ("closed", [str(error)])
            ended = ended or ("closed", [])
            with self.lock:
                self.dropped.append(ended)
            viewer.close()
            if attempt == TUNNEL_ATTEMPTS:
                raise AssertionError(f"the tunnel ended {attempt} times, at last with {ended}")
            viewer = self.open_desktop(http, desktop_id)

    def run(self) -> float:
        started = time.monotonic()
        with ThreadPoolExecutor(PEOPLE) as pool:
            list(pool.map(self.person, range(PEOPLE)))
        return time.monotonic() - started


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_class_of_100_at_the_same_minute(database_url, instance, docker_engine, live_broker_factory, figures):
    school = School(docker_engine, database_url, instance, live_broker_factory)
    try:
        run = Class(school)
        peak = {}

        def watch_peak() -> None:  # what the server holds while all PEOPLE have their desktop open
            try:
                if run.all_open.wait(RUN_SECONDS) and not run.failures:
                    peak["broker"] = process_usage(school.broker.process.pid)[0]
                    peak["desktops"] = school.memory_mib([c.id for c in school.of_instance("containers")])
                    peak["guacd"] = sum(school.memory_mib([guacd.id for guacd in school.guacds]))
            finally:
                run.go_on.set()

        watcher = threading.Thread(target=watch_peak, daemon=True)
        watcher.start()
        cpu_before, clients_before, machine_before = (
            process_usage(school.broker.process.pid)[1],
            own_cpu_seconds(),
            machine_busy(),
        )
        seconds = run.run()
        broker_cpu = process_usage(school.broker.process.pid)[1] - cpu_before
        clients_cpu = own_cpu_seconds() - clients_before
        busy, total = (after - before for after, before in zip(machine_busy(), machine_before, strict=True))
        watcher.join(timeout=60)
        tunnels_ended = wait_until(lambda: live_connections(school.broker.session) == 0, 15)
        leftovers = leftovers_of(school)
        log = school.broker.output()
        guacd_state, guacd_log = school.guacd_report()
        handshakes = [(name, *map(float, seconds)) for name, *seconds in HANDSHAKE_LOG.findall(log)]
    finally:
        school.close()

    calls = [call for call in run.calls.items if call.endpoint != DASHBOARD_TOLD]  # requests only
    server_errors = [c for c in calls if c.status >= 500]
    figures.record(
        f"{PEOPLE} people: signed in → desktop used → signed out",
        f"{seconds:.0f} s",
        f"≤ {RUN_SECONDS} s",
        seconds <= RUN_SECONDS and not run.failures,
    )
    figures.record(
        "requests per second, all endpoints", f"{len(calls) / seconds:.1f} ({len(calls)} requests)", "—", True
    )
    for endpoint, limit in TARGETS.items():
        mine = run.calls.by_endpoint().get(endpoint, [])
        times = [c.seconds for c in mine]
        ok = len(mine) >= PEOPLE and all(c.status in (200, 101) for c in mine)  # connect: with tries again
        if not times:
            figures.record(f"{endpoint} p50 / p99", "no requests", f"p99 < {limit} s", False)
            continue
        span = max(c.started + c.seconds for c in mine) - min(c.started for c in mine)
        p99 = percentile(times, 0.99)
        figures.record(
            f"{endpoint} p50 / p99",
            f"{statistics.median(times):.2f} / {p99:.2f} s ({len(mine) / span:.1f}/s)",
            f"p99 < {limit} s",
            ok and p99 < limit,
        )
    tunnel_times = [c.seconds for c in run.calls.by_endpoint().get("WSS /tunnel, open → first frame", [])]
    if tunnel_times:
        p50 = statistics.median(tunnel_times)
        figures.record("WSS /tunnel, open → first frame p50", f"{p50:.2f} s", f"≤ {TUNNEL_P50} s", p50 <= TUNNEL_P50)
    for step in OPEN_STEPS:  # of the tunnels that drew, their last try's
        if run.steps[step]:
            times = run.steps[step]
            figures.record(
                f"… {step} p50 / p99",
                f"{statistics.median(times):.2f} / {percentile(times, 0.99):.2f} s",
                "—",
                True,
            )
    if handshakes:
        for what, column in (
            ("token and desktop (database)", 1),
            ("guacd turn", 2),
            ("guacd handshake itself", 3),
            ("connection logged (database)", 4),
            ("open in all", 5),
        ):
            times = [handshake[column] for handshake in handshakes]
            figures.record(
                f"… broker's log: {what} p50 / p99",
                f"{statistics.median(times):.2f} / {percentile(times, 0.99):.2f} s",
                "—",
                True,
            )
        spread = Counter(name for name, *_seconds in handshakes)
        figures.record(
            f"tunnels per guacd instance ({len(school.guacds)})",
            ", ".join(str(n) for _name, n in spread.most_common()),
            "all used",
            len(spread) == len(school.guacds),
        )
    figures.record(
        "tunnels tried again (the viewer does so by itself)",
        str(run.tunnel_retries),
        f"< {PEOPLE // 10}",
        run.tunnel_retries < PEOPLE // 10,
    )
    figures.record(
        "open tunnels that ended and were opened again",
        describe_drops(run.dropped),
        f"< {PEOPLE // 10}",
        len(run.dropped) < PEOPLE // 10,
    )
    figures.record("HTTP 5xx answers", str(len(server_errors)), "0", not server_errors)
    figures.record("people whose run failed", str(len(run.failures)), "0", not run.failures)
    figures.record(
        f"broker CPU ({WORKERS} workers) during the run",
        f"{broker_cpu:.0f} s = {100 * broker_cpu / seconds:.0f} % of one core",
        "—",
        True,
    )
    figures.record(
        f"the machine's {os.cpu_count()} cores during the run", f"{100 * busy / total:.0f} % busy", "—", True
    )
    figures.record(  # a real class's browsers are on their own machines; these share the server's cores
        f"the {PEOPLE} simulated people (this test's process) during the run",
        f"{clients_cpu:.0f} s = {100 * clients_cpu / seconds:.0f} % of one core",
        "—",
        True,
    )
    if peak:
        desktops = peak["desktops"]
        figures.record(f"broker RSS ({WORKERS} workers) with {PEOPLE} tunnels", f"{peak['broker']:.0f} MiB", "—", True)
        figures.record(
            f"desktop memory ({len(desktops)} base desktops in use)",
            f"{statistics.median(desktops):.0f} MiB each (median), {sum(desktops) / 1024:.1f} GiB all",
            "—",
            True,
        )
        figures.record(
            f"guacd memory with {PEOPLE} connections ({len(school.guacds)} instances)",
            f"{peak['guacd']:.0f} MiB",
            "—",
            True,
        )
    figures.record(
        "tunnels logged as ended after closing",
        "never" if tunnels_ended is None else f"{tunnels_ended:.1f} s",
        "< 15 s",
        tunnels_ended is not None,
    )
    for what, found in leftovers.items():
        figures.record(f"leaked afterwards: {what}", str(len(found)), "0", not found)
    broker_failures = [line for line in log.splitlines() if "Traceback" in line or "WORKER TIMEOUT" in line]
    figures.record(
        "broker tracebacks and worker timeouts in its log", str(len(broker_failures)), "0", not broker_failures
    )

    # Timings are figures with targets in the report (`python -m tests.reliability` fails on a missed
    # one), not assertions: on a shared machine they vary. What must never happen is asserted.
    # How often guacd 1.3 hangs or drops a connection under this load is a figure with its target:
    # the viewer opens the tunnel again by itself; a person left without their desktop is a failure.
    broker_warnings = "\n".join([line for line in log.splitlines() if " WARNING " in line][-20:])
    assert not run.failures, (
        "\n".join(run.failures[:10]) + f"\n\nbroker's warnings:\n{broker_warnings}\n\nguacd: {guacd_state}\n{guacd_log}"
    )
    assert not server_errors, server_errors[:10]
    assert tunnels_ended is not None
    assert not any(leftovers.values()), leftovers
    assert not broker_failures, log[-5000:]
    with school.broker.session() as db:
        typed = db.scalars(
            select(Connection.user_id).distinct().where(Connection.bytes_from_client >= len(Class.INPUT))
        ).all()
    assert len(typed) == PEOPLE  # everyone's typing reached guacd


def describe_drops(dropped: list[tuple[str, list[str]]]) -> str:
    """'3 (2× error 514, 1× closed)': how many, and how they ended."""
    if not dropped:
        return "0"
    kinds = Counter(" ".join([opcode, *args[1:2]]) for opcode, args in dropped)
    return f"{len(dropped)} (" + ", ".join(f"{n}× {kind}" for kind, n in kinds.most_common()) + ")"


def leftovers_of(school: School) -> dict[str, list]:
    """What the run left behind that nobody asked to keep: people's homes and the public space stay."""
    kept_volumes = {home_volume_name(school.instance, subject) for subject in school.subjects}
    kept_volumes.add(public_volume_name(school.instance))
    with school.broker.session() as db:
        rows = {
            "desktop rows": db.scalars(select(Desktop.id)).all(),
            "tunnel tokens": db.scalars(select(TunnelToken.id)).all(),
            "live connection rows": db.scalars(select(Connection.id).where(Connection.ended_at.is_(None))).all(),
            "sessions not signed out": db.scalars(select(AuthSession.id).where(AuthSession.revoked_at.is_(None))).all(),
            # A housekeeping pass may be between two statements just now; a transaction left open is not.
            "database connections idle in a transaction for 5 s": db.execute(
                text(
                    "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND now() - state_change > interval '5 seconds'"
                )
            ).all(),
        }
    return {
        "containers": [c.name for c in school.of_instance("containers")],
        "volumes": [v.name for v in school.of_instance("volumes") if v.name not in kept_volumes],
        "networks": [n.name for n in school.of_instance("networks") if n.name != school.network],
        **rows,
    }


def live_connections(session_factory) -> int:
    with session_factory() as db:
        return db.scalar(select(func.count()).select_from(Connection).where(Connection.ended_at.is_(None)))


def wait_until(condition, timeout: float) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def test_one_broker_process_holds_500_idle_tunnels_cheaply(tmp_path, postgres_db, figures):
    guacd = FakeGuacd()
    world = TunnelWorld(tmp_path, "127.0.0.1", guacd.port, database_url=postgres_db)
    held = {}
    try:
        cost = hold_idle_tunnels(
            world,
            IDLE_TUNNELS,
            IDLE_SECONDS,
            while_held=lambda: held.update(live=live_connections(world.broker.session)),
        )
        ended_after = wait_until(lambda: live_connections(world.broker.session) == 0, 15)
    finally:
        world.broker.stop()

    figures.record(
        f"{IDLE_TUNNELS} idle tunnels held for {IDLE_SECONDS} s",
        str(held["live"]),
        str(IDLE_TUNNELS),
        held["live"] == IDLE_TUNNELS,
    )
    figures.record(
        "broker RSS per idle tunnel",
        f"{cost.kib_per_tunnel:.0f} KiB ({cost.rss_before:.0f} → {cost.rss_after:.0f} MiB)",
        f"< {IDLE_KIB_PER_TUNNEL} KiB",
        cost.kib_per_tunnel < IDLE_KIB_PER_TUNNEL,
    )
    figures.record(
        f"broker CPU with {IDLE_TUNNELS} idle tunnels",
        f"{cost.cpu_percent:.1f} % of a core",
        f"< {IDLE_CPU_PERCENT} %",
        cost.cpu_percent < IDLE_CPU_PERCENT,
    )
    figures.record(
        "closed tunnels logged as ended",
        "never" if ended_after is None else f"{ended_after:.1f} s",
        "< 15 s",
        ended_after is not None,
    )
    assert held["live"] == IDLE_TUNNELS, world.broker.output()[-3000:]
    assert cost.kib_per_tunnel < IDLE_KIB_PER_TUNNEL  # the CPU figure is the report's (see above)
    assert ended_after is not None, "closed tunnels were still logged as live after 15 s"
