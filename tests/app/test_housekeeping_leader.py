"""Real `broker serve` processes on one PostgreSQL: of all brokers and their workers, one does
housekeeping at a time, as /metrics shows; when it is killed, or stops cleanly, another takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from broker.housekeeping import LEASE_INTERVALS
from tests.monitoring.test_metrics_endpoint import samples

INTERVAL = 1  # seconds between housekeeping passes


def figures(broker) -> tuple[float, float]:
    """(whether this broker leads, its housekeeping passes so far), from its /metrics."""
    found = samples(requests.get(broker.url + "/metrics", timeout=10).text)
    passes = sum(
        value for (name, _), value in found.items() if name == "deskbroker_housekeeping_duration_seconds_count"
    )
    return found.get(("deskbroker_housekeeping_leader", ()), 0), passes


def leaders(brokers) -> list[int]:
    return [n for n, broker in enumerate(brokers) if figures(broker)[0] == 1]


def await_one_leader(brokers, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = leaders(brokers)
        if len(found) == 1:
            return found[0]
        time.sleep(0.25)
    raise AssertionError(f"no single housekeeping leader within {seconds} s: {found}")


def kill_9(broker) -> None:
    workers = subprocess.run(["pgrep", "-P", str(broker.process.pid)], capture_output=True, text=True).stdout.split()
    for pid in [broker.process.pid, *map(int, workers)]:
        os.kill(pid, signal.SIGKILL)
    broker.process.wait(timeout=10)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_broker_process_does_housekeeping_and_another_takes_over(database_url, live_broker_factory):
    brokers = [live_broker_factory(database_url, workers="2", housekeeping_interval=f"{INTERVAL}s") for _ in range(3)]
    leader = await_one_leader(brokers, 5 * INTERVAL)
    before = [figures(broker)[1] for broker in brokers]
    time.sleep(4 * INTERVAL)
    after = [figures(broker)[1] for broker in brokers]
    assert after[leader] - before[leader] >= 2  # it keeps housekeeping ...
    assert [after[n] - before[n] for n in range(3) if n != leader] == [0, 0]  # ... and the others do not
    assert leaders(brokers) == [leader]

    # Killed (no chance to let go): another takes over once the lease lapses.
    killed = time.monotonic()
    kill_9(brokers[leader])
    rest = [broker for n, broker in enumerate(brokers) if n != leader]
    successor = await_one_leader(rest, (LEASE_INTERVALS + 3) * INTERVAL)
    took_over = time.monotonic() - killed
    print(f"\nhousekeeping leader killed -9 → another took over after {took_over:.1f} s")

    # Stopped cleanly: it lets go, and the last one takes over at its next pass.
    stopped = time.monotonic()
    rest[successor].stop()
    last = [broker for n, broker in enumerate(rest) if n != successor]
    await_one_leader(last, 3 * INTERVAL)
    print(f"housekeeping leader stopped → the last broker took over after {time.monotonic() - stopped:.1f} s")
