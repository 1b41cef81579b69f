"""A real Prometheus (the compose stack's image, Debian's package) scrapes a real `broker serve`
under a short load, with the token only, and its query API answers with the broker's series."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import pytest
import requests

from broker.auth.users import create_local_user
from broker.images.build import ensure_debian_image
from tests.fixtures.broker import free_port
from tests.monitoring.test_dashboard import dashboard_queries
from tests.tier.containers import address_of

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "prometheus-scrapes-with-this-token-0123456789"
PASSWORD = "correct horse battery"
SIGN_INS = 12


@pytest.fixture(scope="module")
def prometheus_image(docker_engine) -> str:
    base = ensure_debian_image(docker_engine, "debian:bookworm", "bookworm", progress=lambda _line: None)
    image, _ = docker_engine.images.build(
        path=str(ROOT / "deploy" / "prometheus"),
        tag="deskbroker/prometheus:latest",
        buildargs={"BASE_IMAGE": base},
        rm=True,
    )
    return image.id


def query(prometheus: str, promql: str) -> list[dict]:
    answer = requests.get(prometheus + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(prometheus: str, promql: str, timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = query(prometheus, promql)
        except requests.RequestException:  # Prometheus still starting
            found = []
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"Prometheus has nothing for {promql} after {timeout:.0f} s")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_prometheus_scrapes_the_brokers_series_under_load(
    database_url, live_broker_factory, docker_engine, prometheus_image
):
    # The token alone lets Prometheus in: no address may read without it.
    broker = live_broker_factory(database_url, workers="2", metrics_token=TOKEN, metrics_allowed_networks="")
    with broker.session() as db:
        for n in range(SIGN_INS):  # one each: the sign-in throttle counts per account
            create_local_user(db, f"pupil{n:02}", PASSWORD, [], f"Pupil {n}")
        db.commit()
    assert requests.get(broker.url + "/metrics", timeout=10).status_code == 403

    port = free_port()
    container = docker_engine.containers.run(
        prometheus_image,
        [f"--web.listen-address=127.0.0.1:{port}"],
        detach=True,
        network_mode="host",  # to reach the broker on this host's loopback; listens there only
        environment={
            "METRICS_TOKEN": TOKEN,
            "BROKER_TARGET": broker.url.removeprefix("http://"),
            "SCRAPE_INTERVAL": "1s",
        },
        read_only=True,
        tmpfs={"/tmp": "", "/var/lib/prometheus/metrics2": "uid=0"},
        user="root",  # the tmpfs is root's; the image itself runs as prometheus
    )
    prometheus = f"http://127.0.0.1:{port}"
    try:
        answers: list[int] = []

        def person(n: int) -> None:  # sign in and look at the desktops
            with requests.Session() as http:
                signed_in = http.post(
                    broker.url + "/api/auth/local/login",
                    json={"username": f"pupil{n:02}", "password": PASSWORD},
                    timeout=30,
                )
                answers.append(signed_in.status_code)
                http.get(broker.url + "/api/container/list", timeout=30)

        people = [threading.Thread(target=person, args=(n,)) for n in range(SIGN_INS)]
        for thread in people:
            thread.start()
        for thread in people:
            thread.join()
        assert answers == [200] * SIGN_INS

        assert wait_for(prometheus, 'up{job="deskbroker"} == 1')
        sign_ins = wait_for(
            prometheus,
            'sum(deskbroker_http_request_duration_seconds_count{route="/api/auth/local/login",status="200"})'
            f" >= {SIGN_INS}",
        )
        assert float(sign_ins[0]["value"][1]) == SIGN_INS  # both workers' counts, summed by the broker
        types = {series["metric"]["type"] for series in wait_for(prometheus, "deskbroker_desktops")}
        assert "base" in types
        assert wait_for(prometheus, "deskbroker_housekeeping_duration_seconds_count > 0")
        buckets = wait_for(prometheus, "deskbroker_http_request_duration_seconds_bucket")
        for series in buckets:  # bounded labels: a route rule, a method, a status, a bucket
            assert set(series["metric"]) <= {"__name__", "instance", "job", "route", "method", "status", "le"}
        # Every query of the Grafana dashboard is valid PromQL here (Grafana's own variables given values).
        for promql in dashboard_queries():
            query(prometheus, promql.replace("$__rate_interval", "1m").replace("$__range", "1h"))
        assert query(prometheus, 'sum by (state) (max without (instance) (deskbroker_desktops{type="base"}))')
    finally:
        logs = container.logs().decode(errors="replace")
        container.remove(force=True)
    assert TOKEN not in logs and TOKEN not in broker.output()


def test_prometheus_scrapes_every_broker_replica_a_name_resolves_to(docker_engine, prometheus_image):
    """The stack's `broker` stands for every replica (BROKER_REPLICAS): each is a target of its own,
    since each broker's figures are its own processes'."""
    network = docker_engine.networks.create("deskbroker-test-prometheus-" + secrets.token_hex(3))
    started = []
    try:
        for _ in range(2):  # two "brokers" under one name, as compose's replicas are
            started.append(
                docker_engine.containers.run(
                    prometheus_image, ["-c", "sleep 600"], entrypoint="bash", detach=True, network=network.name
                )
            )
            network.disconnect(started[-1])
            network.connect(started[-1], aliases=["broker"])
        prometheus = docker_engine.containers.run(
            prometheus_image,
            detach=True,
            network=network.name,
            environment={"METRICS_TOKEN": TOKEN, "BROKER_TARGET": "broker:8080", "SCRAPE_INTERVAL": "1s"},
            read_only=True,
            tmpfs={"/tmp": "", "/var/lib/prometheus/metrics2": "uid=0"},
            user="root",
        )
        started.append(prometheus)
        addresses = {address_of(replica) + ":8080" for replica in started[:2]}
        deadline = time.monotonic() + 60
        while True:
            targets = {target["labels"]["instance"] for target in _active_targets(address_of(prometheus))}
            if targets == addresses or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert targets == addresses
    finally:
        for container in started:
            container.remove(force=True)
        network.remove()


def _active_targets(prometheus_address: str) -> list[dict]:
    try:
        answer = requests.get(f"http://{prometheus_address}:9090/api/v1/targets", timeout=5)
        return answer.json()["data"]["activeTargets"]
    except (requests.RequestException, ValueError, KeyError):  # not up yet
        return []
