"""A person with a huge home stalls no one else: through `broker serve` (gunicorn + gevent), the
file manager's walks run off the event loop, and they are bounded and say so when they stop."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from broker.auth.users import create_local_user
from tests.files.conftest import home_of, listing, upload
from tests.fixtures.desktops import PASSWORD, desktop_overrides, sign_in

FOLDERS, FILES_PER_FOLDER = 100, 1000  # 100,000 files: a walk of several tenths of a second


def fill(home: Path, folders: int, files_per_folder: int, content: bytes = b"x") -> int:
    """`folders` folders of `files_per_folder` small files each, owned as the desktop would; their bytes."""
    for f in range(folders):
        folder = home / f"folder-{f:04d}"
        folder.mkdir()
        for n in range(files_per_folder):
            fd = os.open(folder / f"file-{n:05d}.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, content)
            os.close(fd)
    return folders * files_per_folder * len(content)


class HealthProbe(threading.Thread):
    """Asks /healthz one request after the other, noting when each was answered."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.answered, self.stopping = url, [], threading.Event()
        self.first = threading.Event()

    def run(self) -> None:
        try:
            with requests.Session() as http:
                while not self.stopping.is_set():
                    http.get(self.url + "/healthz", timeout=30).raise_for_status()
                    self.answered.append(time.monotonic())
                    self.first.set()
        finally:
            self.first.set()  # also when it failed: the test then says so

    def finish(self) -> list[float]:
        """When each /healthz was answered; AssertionError if the probe stopped before it was told to."""
        assert self.is_alive(), "the /healthz probe failed"
        self.stopping.set()
        self.join()
        return self.answered


def test_healthz_answers_while_six_big_home_listings_run(live_broker_factory, database_url, docker_engine, instance):
    broker = live_broker_factory(database_url, **desktop_overrides(instance))
    with broker.session() as db:
        create_local_user(db, "anna", PASSWORD)
        db.commit()
    http = requests.Session()
    http.headers["Authorization"] = (
        "Bearer "
        + http.post(
            broker.url + "/api/auth/local/login", json={"username": "anna", "password": PASSWORD}, timeout=10
        ).json()["session_token"]
    )
    assert http.get(broker.url + "/api/files/home/list", timeout=30).ok  # makes the home volume
    size = fill(home_of(docker_engine, instance, "anna"), FOLDERS, FILES_PER_FOLDER)

    probe = HealthProbe(broker.url)
    probe.start()
    probe.first.wait(60)

    def usage_and_listing(_n: int) -> tuple[dict, float]:
        info = http.get(broker.url + "/api/files/home", timeout=60).json()
        answered = time.monotonic()
        assert http.get(broker.url + "/api/files/home/list", timeout=60).ok
        return info, answered

    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(usage_and_listing, range(6)))
    health = probe.finish()

    for info, _answered in answers:
        assert (info["used"], info["used_complete"]) == (size, True)
    # Until the first usage figure came, the home was being walked: /healthz kept answering meanwhile
    # (on the event loop the walk held every request of the worker until it was done).
    # (On the loop, the few answers came before the walk began, none in the second half of it.)
    first_figure = min(answered for _info, answered in answers)
    second_half = [when for when in health if (started + first_figure) / 2 < when < first_figure]
    assert len(second_half) >= 5, (len(second_half), first_figure - started)


def test_a_bounded_walk_and_listing_stop_and_say_so(desktop_app, docker_engine, instance):
    app = desktop_app(files_usage_max_entries="500", files_list_max_entries="40")
    anna = sign_in(app, "anna")
    assert listing(anna, "home") == {}  # makes the home volume
    home = home_of(docker_engine, instance, "anna")
    fill(home, 3, 300, b"12345")
    (home / "a.txt").write_bytes(b"a")

    info = anna.call("get", "/api/files/home").get_json()
    assert info["used_complete"] is False and 0 < info["used"] < 1 + 3 * 300 * 5  # at least what was counted

    top = anna.call("get", "/api/files/home/list").get_json()
    assert top["complete"] is True and [entry["name"] for entry in top["entries"]] == [
        "folder-0000",
        "folder-0001",
        "folder-0002",
        "a.txt",
    ]
    big = anna.call("get", "/api/files/home/list", query_string={"path": "folder-0001"}).get_json()
    assert big["complete"] is False and len(big["entries"]) == 40
    names = [entry["name"] for entry in big["entries"]]
    assert names == sorted(names) and set(names) < {f"file-{n:05d}.txt" for n in range(300)}

    # A small home is counted whole, and uploads and deletions keep the figure right without a new walk.
    for name in ("folder-0000", "folder-0001", "folder-0002"):
        assert anna.call("post", "/api/files/home/delete", json={"path": name}).status_code == 200
    info = anna.call("get", "/api/files/home").get_json()
    assert (info["used"], info["used_complete"]) == (1, True)
    assert upload(anna, "home", files={"b.txt": b"bb"}).status_code == 201
    assert anna.call("get", "/api/files/home").get_json()["used"] == 3
    assert set(listing(anna, "home")) == {"a.txt", "b.txt"}
