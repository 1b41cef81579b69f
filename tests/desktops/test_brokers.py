"""Real `broker serve` processes: two at once start one container; a restart loses no desktop."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from broker.db import utcnow
from broker.models import Desktop
from tests.fixtures.desktops import containers_of, desktop_overrides, lifecycle_of, sign_in, stray_desktop_spec


def test_two_brokers_starting_one_desktop_at_once_make_one_container(
    desktop_app, database_url, live_broker_factory, docker_engine, instance
):
    app = desktop_app()
    anna = sign_in(app, "anna")
    brokers = [live_broker_factory(database_url, **desktop_overrides(instance)) for _ in range(2)]

    def start(n: int) -> requests.Response:
        return requests.post(
            f"{brokers[n % 2].url}/api/container/start?desktop_type=base",
            timeout=60,
            headers={"Authorization": f"Bearer {anna.token}"},
        )

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(start, range(8)))
    bodies = [answer.json() for answer in answers]
    assert [answer.status_code for answer in answers] == [200] * 8, bodies
    assert len({(body["id"], body["container_id"]) for body in bodies}) == 1
    assert [c.id for c in containers_of(docker_engine, instance)] == [bodies[0]["container_id"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_broker_restart_adopts_running_desktops_and_duplicates_nothing(
    desktop_app, database_url, live_broker_factory, docker_engine, instance
):
    app = desktop_app()
    lifecycle = lifecycle_of(app)
    anna, ben = sign_in(app, "anna"), sign_in(app, "ben")
    first = live_broker_factory(database_url, **desktop_overrides(instance))

    def start(broker, person) -> dict:
        answer = requests.post(
            f"{broker.url}/api/container/start?desktop_type=base",
            timeout=60,
            headers={"Authorization": f"Bearer {person.token}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    annas, bens = start(first, anna), start(first, ben)
    first.stop()
    # As if the broker had died halfway through Ben's start, and left a container of a desktop it forgot.
    with lifecycle.sessions() as db:
        db.get(Desktop, bens["id"]).state = "starting"
        db.get(Desktop, bens["id"]).state_changed_at = utcnow() - timedelta(minutes=5)
        db.commit()
    lifecycle.provider.create(stray_desktop_spec("forgotten", f"{instance}-forgotten"))

    second = live_broker_factory(database_url, **desktop_overrides(instance))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # its first housekeeping pass runs as it starts
        with lifecycle.sessions() as db:
            adopted = db.get(Desktop, bens["id"]).state == "running"
        if adopted and len(containers_of(docker_engine, instance)) == 2:
            break
        time.sleep(0.2)
    assert {c.id for c in containers_of(docker_engine, instance)} == {annas["container_id"], bens["container_id"]}
    for person, before in ((anna, annas), (ben, bens)):
        status = requests.get(
            f"{second.url}/api/container/status", timeout=10, headers={"Authorization": f"Bearer {person.token}"}
        ).json()
        assert (status["state"], status["container_id"]) == ("running", before["container_id"])
        assert start(second, person)["container_id"] == before["container_id"]
    assert "housekeeping: " in second.output()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_desktop_stopped_or_removed_behind_the_brokers_back_shows_within_seconds(
    desktop_app, database_url, live_broker_factory, docker_engine, instance
):
    """Not at the next housekeeping pass (an hour away here): the engine's events say it at once."""
    app = desktop_app()
    anna, ben = sign_in(app, "anna"), sign_in(app, "ben")
    broker = live_broker_factory(database_url, **{**desktop_overrides(instance), "housekeeping_interval": "3600"})

    def call(method, path, person) -> dict:
        answer = requests.request(
            method, f"{broker.url}{path}", timeout=60, headers={"Authorization": f"Bearer {person.token}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    annas = call("post", "/api/container/start?desktop_type=base", anna)
    bens = call("post", "/api/container/start?desktop_type=base", ben)
    time.sleep(1)  # the broker's first (and, here, only) housekeeping pass is done
    docker_engine.containers.get(annas["container_id"]).kill()
    docker_engine.containers.get(bens["container_id"]).remove(force=True)

    deadline, states = time.monotonic() + 5, {}
    while time.monotonic() < deadline:
        states = {
            name: call("get", "/api/container/status", person)["state"]
            for name, person in (("anna", anna), ("ben", ben))
        }
        if states == {"anna": "stopped", "ben": "error"}:
            break
        time.sleep(0.2)
    assert states == {"anna": "stopped", "ben": "error"}
    assert call("post", "/api/container/start?desktop_type=base", anna)["state"] == "running"
