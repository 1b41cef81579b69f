"""/metrics under `broker serve` with several gunicorn workers: whichever worker answers the scrape,
the figures are all workers' together, and a worker that dies does not take its counts along."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.monitoring.test_metrics_endpoint import samples

REQUESTS = 40
HEALTHZ = (
    "deskbroker_http_request_duration_seconds_count",
    (("method", "GET"), ("route", "/healthz"), ("status", "200")),
)


def workers_of(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def healthz_count(url: str) -> float:
    answer = requests.get(url + "/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return samples(answer.text).get(HEALTHZ, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_scrape_sums_all_workers_even_after_one_died(database_url, live_broker_factory):
    broker = live_broker_factory(database_url, workers="2")
    deadline = time.monotonic() + 30
    while len(workers_of(broker.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    before = healthz_count(broker.url)
    for _ in range(REQUESTS):  # a new connection each: gunicorn's workers take turns accepting them
        requests.get(broker.url + "/healthz", timeout=10, headers={"Connection": "close"})
    # Each scrape lands on either worker: all of them say the same sum.
    assert {healthz_count(broker.url) - before for _ in range(6)} == {REQUESTS}

    victim = min(workers_of(broker.process.pid))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (victim in workers_of(broker.process.pid) or len(workers_of(broker.process.pid)) < 2) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert victim not in workers_of(broker.process.pid), "gunicorn did not replace the killed worker"
    assert {healthz_count(broker.url) - before for _ in range(6)} == {REQUESTS}
