"""A pool of two real guacd (as `broker tier start` runs them) under `broker serve`: tunnels spread
over both; one stopped, its tunnels end and new ones go to the other; started again, it is back
in the pool after its health check. A watcher joins on the instance that holds the connection."""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
import websocket
from sqlalchemy import select

from broker.models import Connection
from broker.tunnels import guacd_pool
from tests.fixtures.desktops import desktop_overrides, lifecycle_of, run_guacd_pool, sign_in
from tests.fixtures.tunnel_viewer import Viewer
from tests.tier.containers import GUACD_PORT, address_of, wait_for_port

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def pool_stack(desktop_app, instance, docker_engine, live_broker_factory, database_url):
    """Anna's running desktop, two guacd on its network and a live broker with them as its pool."""
    app = desktop_app()
    anna = sign_in(app, "anna")
    started = anna.call("post", "/api/container/start?desktop_type=base")
    assert started.status_code == 200, started.get_json()
    with run_guacd_pool(docker_engine, instance, f"{instance}-desktops", 2) as pool:
        hosts = ",".join(f"{address}:{GUACD_PORT}" for _container, address in pool)
        broker = live_broker_factory(database_url, **desktop_overrides(instance, guacd_hosts=hosts))

        class Stack:
            pass

        stack = Stack()
        stack.app, stack.anna, stack.broker, stack.pool = app, anna, broker, pool
        stack.desktop_id = started.get_json()["id"]
        stack.sessions = lifecycle_of(app).sessions
        yield stack


def open_viewer(stack, person, **body) -> Viewer:
    answer = requests.post(
        f"{stack.broker.url}/api/desktops/{stack.desktop_id}/connect",
        json=body,
        headers={"Authorization": f"Bearer {person.token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    viewer = Viewer(stack.broker.url, answer.json()["token"])
    assert viewer.drawn()
    return viewer


def instances(stack) -> list[str]:
    """The guacd instance of each tunnel opened so far, in order (logged at its handshake's end)."""
    with stack.sessions() as db:
        return list(db.scalars(select(Connection.guacd_instance).order_by(Connection.started_at)))


def test_tunnels_spread_over_the_pool_and_avoid_a_stopped_instance_until_it_is_back(pool_stack):
    stack = pool_stack
    (first, first_ip), (_second, second_ip) = stack.pool
    names = {f"{first_ip}:{GUACD_PORT}", f"{second_ip}:{GUACD_PORT}"}
    viewers = [open_viewer(stack, stack.anna) for _ in range(4)]
    assert set(instances(stack)) == names  # both used
    on_first = [v for v, name in zip(viewers, instances(stack)) if name == f"{first_ip}:{GUACD_PORT}"]

    first.stop(timeout=2)
    started = time.monotonic()
    for viewer in on_first:  # its tunnels end (the viewer then opens a new one, as below)
        with contextlib.suppress(OSError, websocket.WebSocketException):  # closed under its answer to a sync
            list(viewer.instructions(timeout=20))
    assert time.monotonic() - started < 16
    for viewer in [open_viewer(stack, stack.anna) for _ in range(3)]:
        viewer.close()
    assert instances(stack)[4:] == [f"{second_ip}:{GUACD_PORT}"] * 3  # all drew, on the other

    first.start()
    assert address_of(first) == first_ip
    wait_for_port(first_ip, GUACD_PORT)
    time.sleep(guacd_pool.HEALTH_CHECK_SECONDS + 1)  # its health check passes
    for viewer in [open_viewer(stack, stack.anna) for _ in range(4)]:
        viewer.close()
    assert f"{first_ip}:{GUACD_PORT}" in instances(stack)[7:]  # back in the pool
    for viewer in viewers:
        viewer.close()


def test_a_watcher_joins_on_the_instance_that_holds_the_connection(pool_stack):
    stack = pool_stack
    owner = open_viewer(stack, stack.anna)
    boss = sign_in(stack.app, "boss", roles=("admin",))
    watchers = [open_viewer(stack, boss, mode="view") for _ in range(3)]  # some would go elsewhere by queue
    with stack.sessions() as db:
        rows = db.scalars(select(Connection).order_by(Connection.started_at)).all()
    [control] = [row for row in rows if row.mode == "control"]
    views = [row for row in rows if row.mode == "view"]
    assert len(views) == 3
    assert {(v.guacd_instance, v.guacd_connection_id) for v in views} == {
        (control.guacd_instance, control.guacd_connection_id)
    }
    for viewer in [owner, *watchers]:
        viewer.close()
