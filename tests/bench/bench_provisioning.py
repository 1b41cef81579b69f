"""Benchmark: `POST /api/container/start` until the desktop is `running` (its VNC server has
answered), for a cold create, a start of the person's stopped container, and a desktop taken
from the pool, each beside the bare engine doing the same with the same image in the same run.

    python -m tests.bench.bench_provisioning [--rounds 5] [--types base xfce]

Needs the Docker engine and the desktop images (built when missing). Runs the broker in-process
(Flask test client, SQLite); everything it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from broker import desktops
from broker.app import create_app
from broker.auth.users import create_local_user
from broker.db import make_engine, upgrade
from broker.desktops.catalog import sync_catalog
from broker.desktops.provider import BROKER_LABEL
from broker.engine import docker_client
from broker.images.build import build_images
from broker.images.table import format_table
from broker.models import DesktopType
from broker.rfb import wait_for_greeting
from tests.fixtures.broker import make_settings
from tests.fixtures.desktops import remove_everything_of

TARGETS = {"cold": 1.0, "warm": 0.3, "pool": 0.3}
PASSWORD = "bench password"


class Broker:
    """An in-process broker with its own database, instance and desktop network."""

    def __init__(self, workdir: Path, instance: str, **overrides: str):
        url = f"sqlite:///{workdir / (secrets.token_hex(4) + '.db')}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        self.app = create_app(
            make_settings(
                database_url=url,
                instance=instance,
                desktop_network=f"{instance}-desktops",
                log_level="ERROR",
                desktops_per_user="5",
                **overrides,
            )
        )
        self.lifecycle = self.app.extensions[desktops.EXTENSION]
        with self.lifecycle.sessions() as db:
            sync_catalog(db, self.lifecycle.provider.catalog())
        self.client = self.app.test_client(use_cookies=False)

    def only(self, type_id: str) -> None:
        with self.lifecycle.sessions() as db:
            for kind in db.query(DesktopType):
                kind.enabled = kind.id == type_id
            db.commit()

    def person(self) -> dict[str, str]:
        name = "bench-" + secrets.token_hex(4)
        with self.lifecycle.sessions() as db:
            create_local_user(db, name, PASSWORD)
            db.commit()
        answer = self.client.post("/api/auth/local/login", json={"username": name, "password": PASSWORD})
        return {"Authorization": f"Bearer {answer.get_json()['session_token']}"}

    def call(self, path: str, headers: dict[str, str]) -> dict:
        answer = self.client.post(path, headers=headers)
        if answer.status_code != 200:
            sys.exit(f"{path}: {answer.status_code} {answer.get_json()}")
        return answer.get_json()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bare_engine(client: docker.DockerClient, image: str, network: str, instance: str, rounds: int):
    """`docker run` → RFB greeting, and `docker start` of the stopped container → greeting."""
    runs, starts = [], []
    for _ in range(rounds):
        container = None

        def run():
            nonlocal container
            container = client.containers.run(
                image,
                detach=True,
                network=network,
                labels={BROKER_LABEL: instance},
                environment={"VNC_PASSWORD": "benchpw1"},
            )
            greet(container)

        def greet(target):
            target.reload()
            wait_for_greeting(target.attrs["NetworkSettings"]["Networks"][network]["IPAddress"], 5901, 30)

        runs.append(timed(run))
        container.stop()
        starts.append(timed(lambda container=container: (container.start(), greet(container))))
        container.remove(force=True)
    return runs, starts


def measure(client: docker.DockerClient, workdir: Path, type_id: str, rounds: int) -> list[list[str]]:
    instance = "bench" + secrets.token_hex(3)
    try:
        broker = Broker(workdir, instance)
        broker.only(type_id)
        image = f"deskbroker/{type_id}:latest"
        start = f"/api/container/start?desktop_type={type_id}"
        broker.call(start, broker.person())  # makes the network; the image is warm in the page cache

        cold, warm = [], []
        for _ in range(rounds):
            headers = broker.person()
            cold.append(timed(lambda headers=headers: broker.call(start, headers)))
            broker.call("/api/container/stop", headers)
            warm.append(timed(lambda headers=headers: broker.call(start, headers)))
            broker.call("/api/container/remove", headers)

        pooled = Broker(workdir, instance, desktop_pool_size="1", desktop_persistent_homes="false")
        pooled.only(type_id)
        pool = []
        for _ in range(rounds):
            with pooled.lifecycle.sessions() as db:
                pooled.lifecycle.fill_pool(db)
            headers = pooled.person()
            pool.append(timed(lambda headers=headers: pooled.call(start, headers)))
            pooled.call("/api/container/remove", headers)

        runs, starts = bare_engine(client, image, f"{instance}-desktops", instance, rounds)
    finally:
        remove_everything_of(client, instance)

    bare_run, bare_start = statistics.median(runs), statistics.median(starts)

    def row(label: str, samples: list[float], target: str = "") -> list[str]:
        median = statistics.median(samples)
        return [
            type_id,
            label,
            f"{median:.3f} s",
            f"{min(samples):.3f} s",
            f"{max(samples):.3f} s",
            f"{median / bare_run:.2f}",
            f"{median / bare_start:.2f}",
            target,
        ]

    def goal(kind: str, samples: list[float]) -> str:
        met = statistics.median(samples) <= TARGETS[kind]
        return f"<= {TARGETS[kind]:.1f} s {'met' if met else 'MISSED'}"

    return [
        row("docker run -> greeting (bare)", runs),
        row("docker start -> greeting (bare)", starts),
        row("cold: create -> running", cold, goal("cold", cold)),
        row("warm: stopped container -> running", warm, goal("warm", warm)),
        row("pool: pre-started -> running", pool, goal("pool", pool)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--types", nargs="+", default=["base", "xfce"])
    args = parser.parse_args()
    client = docker_client()
    try:
        for type_id in args.types:
            client.images.get(f"deskbroker/{type_id}:latest")
    except ImageNotFound:
        build_images(client, args.types)
    with tempfile.TemporaryDirectory(prefix="deskbroker-bench-") as workdir:
        rows = [row for type_id in args.types for row in measure(client, Path(workdir), type_id, args.rounds)]
    print(
        f"\nstart request -> running, {args.rounds} rounds each (median, min, max; ratios: median / the bare "
        "engine's median for the same image, docker run or docker start of a stopped container -> greeting)\n"
    )
    print(
        format_table(["image", "scenario", "median", "min", "max", "vs docker run", "vs docker start", "target"], rows)
    )


if __name__ == "__main__":
    main()
