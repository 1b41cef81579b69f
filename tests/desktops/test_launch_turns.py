"""A class starting at once: the broker processes of a host launch a few containers at a time
between them, the rest wait their turn (at most the start timeout) instead of all slowing the
engine down together."""

import json
import multiprocessing
import threading
import time

import pytest

from broker.desktops import docker as docker_provider
from broker.desktops.docker import TOO_BUSY, DockerProvider
from broker.engine import EngineUnavailable
from tests.fixtures.broker import make_settings


class Launches:
    """Stands in for the engine's part of a launch: it takes `seconds` and counts how many overlap."""

    def __init__(self, seconds: float):
        self.seconds, self.running, self.most, self.done = seconds, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self, _ref: str) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.done += 1


AT_ONCE = 3  # DESKBROKER_LAUNCHES_AT_ONCE, other than the default so that the setting is what counts


@pytest.fixture(autouse=True)
def own_locks_folder(tmp_path, monkeypatch):
    """This host's launch turns for these tests only, not shared with desktops other tests launch."""
    monkeypatch.setenv("DESKBROKER_LOCKS_DIR", str(tmp_path))


def provider_with(monkeypatch, launches: Launches, start_timeout: str = "60s") -> DockerProvider:
    settings = make_settings(desktop_start_timeout=start_timeout, launches_at_once=str(AT_ONCE))
    provider = DockerProvider(settings.desktops)
    monkeypatch.setattr(provider, "_launch", launches)
    return provider


def start_all(provider: DockerProvider, people: int) -> list[Exception]:
    refused: list[Exception] = []

    def start(n: int) -> None:
        try:
            provider.start(f"desktop-{n}")
        except EngineUnavailable as error:
            refused.append(error)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return refused


def test_a_class_is_launched_a_few_at_a_time_and_everyone_gets_theirs(monkeypatch):
    launches = Launches(0.2)
    provider = provider_with(monkeypatch, launches)
    assert start_all(provider, 3 * AT_ONCE) == []
    assert launches.done == 3 * AT_ONCE
    assert launches.most == AT_ONCE


class LoggedLaunches(Launches):
    """Launches that write when they began and ended, for launches in several processes."""

    def __init__(self, seconds: float, log: str):
        super().__init__(seconds)
        self.log = log

    def __call__(self, ref: str) -> None:
        began = time.time()
        super().__call__(ref)
        with open(self.log, "a") as log:
            log.write(json.dumps([began, time.time()]) + "\n")


def _start_as_a_worker(log: str, people: int) -> None:
    """One gunicorn worker of the broker: its own provider, the host's launch turns."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert start_all(provider_with(monkeypatch, LoggedLaunches(0.2, log)), people) == []


def most_at_once(spans: list[tuple[float, float]]) -> int:
    moments = sorted([(began, 1) for began, _ in spans] + [(ended, -1) for _, ended in spans])
    running = most = 0
    for _moment, change in moments:  # an end before a beginning at the same moment
        running += change
        most = max(most, running)
    return most


def test_the_broker_processes_of_a_host_share_the_launches_at_once(tmp_path):
    log = str(tmp_path / "launches.jsonl")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_start_as_a_worker, args=(log, 2 * AT_ONCE)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    with open(log) as lines:
        spans = [tuple(json.loads(line)) for line in lines]
    assert len(spans) == 3 * 2 * AT_ONCE
    # Three workers with AT_ONCE each would launch 3 * AT_ONCE at once; the host's turns keep it at AT_ONCE.
    assert most_at_once(spans) == AT_ONCE


def test_who_waits_longer_than_the_start_timeout_is_told_the_engine_is_busy(monkeypatch):
    launches = Launches(2.5)
    provider = provider_with(monkeypatch, launches, start_timeout="1s")
    refused = start_all(provider, AT_ONCE + 1)
    assert launches.done == AT_ONCE
    assert [str(error) for error in refused] == [TOO_BUSY]
    assert refused[0].code == "engine_unavailable"


def test_an_engine_that_answers_too_slowly_is_called_busy_not_unreachable():
    import requests

    with pytest.raises(EngineUnavailable, match="too busy"), docker_provider.engine_errors():
        raise requests.ReadTimeout("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out.")
