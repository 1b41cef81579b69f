"""Faults (#8), each against the real stack (tests/app/faults_stack.py): the database, the
container engine, a desktop, the translation tier and the broker itself fail, and people see clear
answers meanwhile and everything come back by itself afterwards. Each test records its figures.

guacd restarting under a lone Guacamole viewer is tests/viewer/test_viewer_end_to_end.py's; here the
whole tier restarts under both viewers, with the time each takes to draw again."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from broker.auth.current import COOKIE_NAME
from broker.db import utcnow
from broker.housekeeping import ABANDONED_AFTER, VANISHED
from broker.models import Connection, Desktop, User
from broker.tunnels.service import ABANDONED
from tests.app.faults_stack import (
    HOUSEKEEPING_SECONDS,
    DesktopEvents,
    FaultStack,
    WireViewer,
    expect_drawn,
    seconds_until_redrawn,
    watch_states,
)
from tests.fixtures.broker import start_live_broker
from tests.fixtures.browser import VIEWPORT

pytestmark = pytest.mark.reliability

DATABASE_DOWN = "The database is not reachable right now. Please try again in a moment."
ENGINE_DOWN = (
    "The container engine is not reachable, so desktops cannot be started or stopped right now. Please try again later."
)
FAST = 2.0  # seconds: an answer during an outage comes at once, it does not hang
IN_USE = 20  # desktops in use when the broker is killed


@pytest.fixture(scope="module")
def stack(postgres, docker_engine, tmp_path_factory):
    stack = FaultStack(docker_engine, postgres, tmp_path_factory.mktemp("faults"))
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def state_of(desktop_id: str):
    return lambda desktops: next((d for d in desktops if d["id"] == desktop_id), {})


def test_postgresql_down_answers_503_at_once_and_all_recovers_without_a_restart(stack, figures):
    anna = stack.person("pg-anna")
    desktop = anna.start()
    viewer = WireViewer(stack.url, anna.tunnel_token(desktop["id"]))
    stream = DesktopEvents(anna)  # her dashboard's
    stream.wait_for(lambda desktops: state_of(desktop["id"])(desktops).get("state") == "running", timeout=10)
    page_headers = {"Accept": "text/html"}
    cookies = {COOKIE_NAME: anna.token}
    assert requests.get(stack.url + "/", headers=page_headers, cookies=cookies, timeout=10).status_code == 200

    stack.postgres.stop()
    try:
        api, api_seconds = timed(lambda: anna.call("get", "/api/container/list", timeout=30))
        page, page_seconds = timed(
            lambda: requests.get(stack.url + "/", headers=page_headers, cookies=cookies, timeout=30)
        )
        login, login_seconds = timed(
            lambda: requests.post(
                stack.url + "/api/auth/local/login", timeout=30, json={"username": "pg-anna", "password": "x" * 12}
            )
        )
        ready, ready_seconds = timed(lambda: requests.get(stack.url + "/readyz", timeout=30))
        alive = requests.get(stack.url + "/healthz", timeout=10)
        # Longer than housekeeping gives a silent connection (ABANDONED_AFTER intervals): the tunnel
        # cannot vouch for itself meanwhile, and must not count as abandoned afterwards.
        time.sleep(HOUSEKEEPING_SECONDS * (ABANDONED_AFTER + 1))
        tunnel_survived = not viewer.closed.is_set()
    finally:
        stack.postgres.start()
    slowest = max(api_seconds, page_seconds, login_seconds, ready_seconds)
    figures.record(
        "PostgreSQL down: slowest answer (API, page, sign-in, /readyz)",
        f"{slowest:.2f} s",
        f"< {FAST:.0f} s",
        slowest < FAST,
    )

    for answer in (api, login):
        assert (answer.status_code, answer.json()) == (503, {"error": "database_unavailable", "message": DATABASE_DOWN})
        assert answer.headers["Retry-After"] == "5"
    assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
    assert DATABASE_DOWN in page.text and "Traceback" not in page.text
    assert (ready.status_code, ready.json()) == (503, {"status": "unavailable", "reason": "database unreachable"})
    assert alive.status_code == 200  # the process itself is fine: no reason to restart it
    assert tunnel_survived  # a desktop in use stays in use while the database is away
    assert slowest < FAST

    started = time.monotonic()
    while (answer := anna.call("get", "/api/container/list")).status_code != 200:
        assert time.monotonic() - started < 30, answer.text
        time.sleep(0.1)
    recovered = time.monotonic() - started
    figures.record(
        "PostgreSQL back: API answers again, same broker process", f"{recovered:.2f} s", "< 5 s", recovered < 5
    )
    assert recovered < 5
    assert requests.get(stack.url + "/readyz", timeout=10).status_code == 200
    assert requests.get(stack.url + "/", headers=page_headers, cookies=cookies, timeout=10).status_code == 200
    assert stack.broker.process.poll() is None  # no restart was needed
    time.sleep(HOUSEKEEPING_SECONDS * 2)  # a housekeeping pass, and the tunnel's vouching, after the outage
    assert not viewer.closed.is_set()
    with stack.session() as db:  # the admin's live connections list it still
        assert db.scalar(select(Connection.ended_at).where(Connection.desktop_id == desktop["id"])) is None
    viewer.close()
    # The dashboard's stream stayed open through it all and tells what happens next.
    assert anna.call("post", "/api/container/stop?desktop_type=base").status_code == 200
    stream.wait_for(lambda desktops: state_of(desktop["id"])(desktops).get("state") == "stopped", timeout=10)
    stream.close()
    # The outage was logged in a line per event, not a stack trace per tunnel every few seconds.
    assert "Traceback" not in stack.broker.output()


def test_a_desktop_killed_or_removed_outside_is_shown_stopped_then_error_within_seconds(stack, figures):
    ben = stack.person("outside-ben")
    desktop = ben.start()
    stream = DesktopEvents(ben)
    try:
        stream.wait_for(lambda desktops: state_of(desktop["id"])(desktops).get("state") == "running", timeout=10)
        limit = HOUSEKEEPING_SECONDS + 5

        killed = time.monotonic()
        stack.docker.containers.get(desktop["container_id"]).kill()
        seen = stream.wait_for(lambda d: state_of(desktop["id"])(d).get("state") == "stopped", timeout=30)
        figures.record(
            "desktop killed outside (docker kill) → stopped on the dashboard's stream",
            f"{seen - killed:.1f} s",
            f"< {limit} s (housekeeping every {HOUSEKEEPING_SECONDS} s)",
            seen - killed < limit,
        )
        status = ben.status()
        assert status["state"] == "stopped" and "ended by itself" in status["reason"], status
        assert seen - killed < limit
        # As after a stop, it is on no network now: a start by hand on the host gives it none.
        container = stack.docker.containers.get(desktop["container_id"])
        deadline = time.monotonic() + 5
        while (networks := stack.docker.api.inspect_container(container.id)["NetworkSettings"]["Networks"]) != {}:
            assert time.monotonic() < deadline, networks
            time.sleep(0.1)
        container.start()
        container.reload()
        assert container.status == "running" and container.attrs["NetworkSettings"]["Networks"] == {}

        again = ben.start()  # the same container, started again
        assert again["container_id"] == desktop["container_id"] and again["state"] == "running"
        stream.wait_for(lambda d: state_of(desktop["id"])(d).get("state") == "running", timeout=10)

        removed = time.monotonic()
        stack.docker.containers.get(desktop["container_id"]).remove(force=True)
        seen = stream.wait_for(lambda d: state_of(desktop["id"])(d).get("state") == "error", timeout=30)
        figures.record(
            "desktop removed outside (docker rm -f) → error on the dashboard's stream",
            f"{seen - removed:.1f} s",
            f"< {limit} s",
            seen - removed < limit,
        )
        status = ben.status()
        assert (status["state"], status["reason"], status["container_id"]) == ("error", VANISHED, None)
        assert seen - removed < limit
    finally:
        stream.close()
    renewed = ben.start()  # a new container for the same desktop
    assert renewed["id"] == desktop["id"] and renewed["container_id"] not in (None, desktop["container_id"])


def dead_docker_socket(folder) -> str:
    """A socket file nobody listens on any more, as a stopped engine leaves behind."""
    path = folder / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return f"unix://{path}"


def test_an_unreachable_engine_answers_503_and_leaves_nothing_half_made(stack, figures, monkeypatch, tmp_path):
    dana = stack.person("engine-dana")
    running = dana.start()  # through the broker that reaches the engine
    carl = stack.person("engine-carl")
    monkeypatch.setenv("DOCKER_HOST", dead_docker_socket(tmp_path))
    blind = start_live_broker(tmp_path, stack.database_url, **stack.overrides())
    monkeypatch.delenv("DOCKER_HOST")
    try:
        start, start_seconds = timed(
            lambda: requests.post(
                f"{blind.url}/api/container/start?desktop_type=base",
                headers={"Authorization": f"Bearer {carl.token}"},
                timeout=60,
            )
        )
        stop, stop_seconds = timed(
            lambda: requests.post(
                f"{blind.url}/api/container/stop?desktop_type=base",
                headers={"Authorization": f"Bearer {dana.token}"},
                timeout=60,
            )
        )
        # Nothing was stopped: Dana's desktop is as it was, and she goes on using it.
        after_stop = requests.get(
            f"{blind.url}/api/container/status", timeout=10, headers={"Authorization": f"Bearer {dana.token}"}
        ).json()
        still_usable = requests.post(
            f"{blind.url}/api/desktops/{running['id']}/connect",
            json={},
            timeout=10,
            headers={"Authorization": f"Bearer {dana.token}"},
        )
        listing = requests.get(
            f"{blind.url}/api/container/list", headers={"Authorization": f"Bearer {carl.token}"}, timeout=10
        )
        ready = requests.get(f"{blind.url}/readyz", timeout=10)
        # Housekeeping is the other broker's (it holds the lease, broker/leases.py); this one's
        # background work goes on without the engine, and without a stack trace.
        time.sleep(HOUSEKEEPING_SECONDS * 2)
        with stack.session() as db:
            rows = {
                d.user.username: (d.state, d.state_reason)
                for d in db.scalars(select(Desktop))
                if d.user and d.user.username in ("engine-carl", "engine-dana")
            }
        blind_log = blind.output()
    finally:
        blind.stop()
    slowest = max(start_seconds, stop_seconds)
    figures.record(
        "engine unreachable: start and stop answer 503 engine_unavailable",
        f"{slowest:.2f} s",
        f"< {FAST:.0f} s",
        slowest < FAST and start.status_code == stop.status_code == 503,
    )
    for answer in (start, stop):
        assert (answer.status_code, answer.json()) == (503, {"error": "engine_unavailable", "message": ENGINE_DOWN})
        assert answer.headers["Retry-After"] == "30"
    assert slowest < FAST
    assert (after_stop["state"], after_stop["reason"]) == ("running", ""), after_stop
    assert still_usable.status_code == 200, still_usable.text
    assert listing.status_code == 200 and ready.status_code == 200  # the rest of the broker works on
    assert "Traceback" not in blind_log
    stuck = {name: state for name, (state, _) in rows.items() if state in ("creating", "starting", "stopping")}
    figures.record("engine unreachable: desktops left creating, starting or stopping", str(len(stuck)), "0", not stuck)
    assert not stuck, rows
    assert rows["engine-carl"] == ("error", ENGINE_DOWN), rows
    assert stack.containers_of({carl.status()["id"]}) == []
    assert stack.containers_of({running["id"]})[0].status == "running"  # Dana's desktop was never touched

    # Where the engine answers, nothing is left to repair.
    assert (dana.status()["state"], dana.status()["container_id"]) == ("running", running["container_id"])
    assert carl.start()["state"] == "running"


def test_both_viewers_draw_again_when_websockify_and_guacd_restart(stack, browser, figures):
    erin = stack.person("tier-erin")
    desktop = erin.start()
    pages = {}
    for protocol in ("novnc", "guacamole"):
        pages[protocol] = browser.new_context(viewport=VIEWPORT).new_page()
        stack.sign_in_page(pages[protocol], erin)
        stack.open_viewer(pages[protocol], desktop["id"], protocol)
    try:
        for protocol, role in (("novnc", "websockify"), ("guacamole", "guacd")):
            watch_states(pages[protocol])
            restarted = time.monotonic()
            stack.tier[role].restart(timeout=1)
            seconds = seconds_until_redrawn(pages[protocol], restarted)
            figures.record(
                f"{role} restarted → the {protocol} viewer draws again", f"{seconds:.1f} s", "< 30 s", seconds < 30
            )
            assert seconds < 30
        for page in pages.values():  # the other viewer was never disturbed, or is back as well
            expect_drawn(page)
    finally:
        for page in pages.values():
            page.context.close()


def wait_until_ended(stack: FaultStack, connection_ids: set[str], since: float) -> tuple[list[Connection], float]:
    """The connections once all have ended (or what ended of them within a minute), and when."""
    deadline = since + 60
    while True:
        with stack.session() as db:
            ended = [
                c
                for c in db.scalars(select(Connection).where(Connection.id.in_(connection_ids)))
                if c.ended_at is not None
            ]
        if len(ended) == len(connection_ids) or time.monotonic() > deadline:
            return ended, time.monotonic() - since
        time.sleep(0.2)


def test_a_broker_killed_with_20_desktops_in_use_loses_nothing_and_its_viewers_come_back(stack, browser, figures):
    people = [stack.person(f"crash{n:02}") for n in range(IN_USE)]
    with ThreadPoolExecutor(4) as pool:
        desktops = list(pool.map(lambda person: person.start(), people))
    ids = {desktop["id"] for desktop in desktops}
    page = browser.new_context(viewport=VIEWPORT).new_page()
    wires: list[WireViewer] = []
    try:
        stack.sign_in_page(page, people[0])
        stack.open_viewer(page, desktops[0]["id"])
        wires += [
            WireViewer(stack.url, person.tunnel_token(desktop["id"]))
            for person, desktop in zip(people[1:], desktops[1:])
        ]
        assert all(wire.drew for wire in wires)
        with stack.session() as db:
            open_before = set(
                db.scalars(select(Connection.id).where(Connection.desktop_id.in_(ids), Connection.ended_at.is_(None)))
            )
        assert len(open_before) == IN_USE

        watch_states(page)
        killed = time.monotonic()
        stack.kill_broker()
        # After it is dead: until then (pgrep and the kills take a moment on a busy machine) its
        # processes may still note their tunnels alive.
        killed_at = utcnow()
        with ThreadPoolExecutor(1) as background:
            closing = background.submit(wait_until_ended, stack, open_before, killed)
            assert all(wire.closed.wait(10) for wire in wires)  # the tunnels died with their process
            stack.start_broker()

            redrawn = seconds_until_redrawn(page, killed, timeout=60)
            figures.record(
                "broker kill -9 → the viewer in Chromium draws again by itself",
                f"{redrawn:.1f} s",
                "< 30 s",
                redrawn < 30,
            )
            assert redrawn < 30
            again = [
                WireViewer(stack.url, person.tunnel_token(desktop["id"]))
                for person, desktop in zip(people[1:], desktops[1:])
            ]
            wires += again
            assert all(wire.drew for wire in again)  # every desktop is usable again, through the new process

            # The dead process's connections are closed by housekeeping, dated when last seen alive.
            ended, closed_after = closing.result()
        figures.record(
            "broker kill -9: its 20 open connections closed by housekeeping",
            f"{closed_after:.1f} s",
            "< 30 s",
            len(ended) == IN_USE and closed_after < 30,
        )
        assert len(ended) == IN_USE and closed_after < 30
        assert all(c.end_reason == ABANDONED and c.ended_at <= killed_at for c in ended)

        # Nothing lost, nothing twice: the same desktops, running, in the same containers.
        containers = stack.containers_of(ids)
        with stack.session() as db:
            rows = db.scalars(select(Desktop).join(Desktop.user).where(User.username.like("crash%"))).all()
            live = db.scalar(
                select(func.count())
                .select_from(Connection)
                .where(Connection.desktop_id.in_(ids), Connection.ended_at.is_(None))
            )
        kept = sorted((row.id, row.state, row.container_id) for row in rows)
        figures.record(
            "broker kill -9 with 20 desktops in use: desktop rows / containers after the restart",
            f"{len(kept)} / {len(containers)}",
            f"{IN_USE} / {IN_USE}, the same as before",
            len(kept) == len(containers) == IN_USE,
        )
        assert kept == sorted((d["id"], "running", d["container_id"]) for d in desktops)
        assert sorted(c.id for c in containers) == sorted(d["container_id"] for d in desktops)
        assert all(c.status == "running" for c in containers)
        assert live == IN_USE  # the Chromium viewer's and the 19 new ones
    finally:
        page.context.close()
        for wire in wires:
            wire.close()
