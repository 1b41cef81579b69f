"""The stack the fault tests break, every part real: `broker serve` on PostgreSQL (a process that can
be killed and started again on its port), desktops of the light `base` image on the Docker engine,
guacd and websockify on the private desktop network, and one origin in front of broker and
websockify (tests/support/proxy.py), as the HTTPS proxy in production, for the viewers in Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
import websocket
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from broker.auth.users import create_local_user
from broker.db import make_engine, make_sessionmaker
from broker.desktops import make_provider
from broker.desktops.provider import DESKTOP_LABEL
from broker.images.build import build_images
from broker.tunnels.protocol import encode, parse
from tests.fixtures.broker import LiveBroker, free_port, make_settings, start_live_broker
from tests.fixtures.desktops import containers_of, desktop_overrides, remove_everything_of
from tests.fixtures.tunnel_viewer import Viewer
from tests.support.proxy import PathProxy
from tests.tier.containers import GUACD_PORT, WEBSOCKIFY_PORT, wait_for_port
from tests.viewer.test_viewer_end_to_end import DRAWN_COLOURS

PASSWORD = "a fault test password"
HOUSEKEEPING_SECONDS = 2  # short, so what housekeeping repairs is seen within the test's patience
WEBSOCKIFY_KEY = secrets.token_urlsafe(40)
DRAWN = 8  # colours in DRAWN_COLOURS' sample: a drawn base desktop (xterm, JWM's tray) shows 30 or more


@dataclass
class Person:
    """A signed-in person calling the broker's API with a Bearer token, as programs do."""

    url: str
    username: str
    token: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {self.token}"
        return requests.request(method, self.url + path, **kwargs)

    def start(self, desktop_type: str = "base") -> dict:
        answer = self.call("post", f"/api/container/start?desktop_type={desktop_type}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def status(self) -> dict:
        return self.call("get", "/api/container/status").json()

    def tunnel_token(self, desktop_id: str) -> str:
        answer = self.call("post", f"/api/desktops/{desktop_id}/connect", json={})
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]


class FaultStack:
    def __init__(self, docker, postgres, folder: Path):
        self.docker, self.postgres, self.folder = docker, postgres, folder
        self.instance = "t" + secrets.token_hex(4)
        self.network = f"{self.instance}-desktops"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = postgres.new_database()
        self.broker: LiveBroker | None = None
        self.proxy: PathProxy | None = None
        # The viewers' pages come from the proxy: the broker and websockify allow its origin.
        self.proxy_port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.proxy_port}"
        self.tier: dict[str, object] = {}  # guacd and websockify, by role
        self.guacd_ip = ""
        self._engine = None

    # --- setting up and tearing down

    def start(self) -> None:
        build_images(self.docker, ["base", "guacd", "websockify", "netguard"], progress=lambda _line: None)
        make_provider(make_settings(**self.overrides())).ensure_network()
        guacd_ip = self._run_tier("guacd", "deskbroker/guacd:latest")
        websockify_ip = self._run_tier(
            "websockify",
            "deskbroker/websockify:latest",
            environment={"VNC_TOKEN_KEY": WEBSOCKIFY_KEY, "ALLOWED_ORIGINS": self.proxy_url},
            read_only=True,
            tmpfs={"/tmp": ""},
        )
        wait_for_port(guacd_ip, GUACD_PORT)
        wait_for_port(websockify_ip, WEBSOCKIFY_PORT)
        self.guacd_ip = guacd_ip  # a restart keeps a container's address on its network
        self.start_broker()
        self.proxy = PathProxy(
            ("127.0.0.1", self.port), {"/websockify": (websockify_ip, WEBSOCKIFY_PORT)}, port=self.proxy_port
        )
        self.wait_for_catalog()

    def overrides(self, **more: str) -> dict[str, str]:
        return desktop_overrides(self.instance, housekeeping_interval=f"{HOUSEKEEPING_SECONDS}s", **more)

    def _run_tier(self, role: str, image: str, **options) -> str:
        # Not labelled as the broker's: its housekeeping would remove them as orphans.
        container = self.docker.containers.run(
            image, detach=True, network=self.network, name=f"{self.instance}-{role}", **options
        )
        self.tier[role] = container
        container.reload()
        return container.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]

    def close(self) -> None:
        if self.proxy:
            self.proxy.stop()
        if self.broker:
            self.broker.stop()
        for container in self.tier.values():  # before the instance's network goes
            with contextlib.suppress(Exception):
                container.remove(force=True)
        remove_everything_of(self.docker, self.instance)
        if self._engine is not None:
            self._engine.dispose()
        self.postgres.start()
        self.postgres.drop_database(self.database_url)

    # --- the broker process

    def start_broker(self) -> LiveBroker:
        self.broker = start_live_broker(
            self.folder,
            self.database_url,
            self.port,
            **self.overrides(guacd_host=self.guacd_ip, websockify_key=WEBSOCKIFY_KEY, allowed_origins=self.proxy_url),
        )
        return self.broker

    def kill_broker(self) -> None:
        """`kill -9` of gunicorn's master and its workers at once, as a crash or an OOM kill of the
        container would: nothing gets to close a tunnel or write a row."""
        master = self.broker.process
        workers = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
        for pid in [master.pid, *map(int, workers)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        master.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(map(_alive, map(int, workers))):
            assert time.monotonic() < deadline, "a worker outlived SIGKILL"
            time.sleep(0.05)

    # --- people and their desktops

    def session(self) -> Session:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return make_sessionmaker(self._engine)()

    def person(self, username: str, *roles: str) -> Person:
        with self.session() as db:
            create_local_user(db, username, PASSWORD, list(roles))
            db.commit()
        answer = requests.post(
            self.url + "/api/auth/local/login", timeout=30, json={"username": username, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return Person(self.url, username, answer.json()["session_token"])

    def wait_for_catalog(self) -> None:
        """Housekeeping syncs the catalog from the images as the broker starts."""
        probe = self.person("catalog-probe")
        deadline = time.monotonic() + 30
        while True:
            types = probe.call("get", "/api/container/list").json()["desktop_types"]
            if any(kind["id"] == "base" for kind in types):
                return
            assert time.monotonic() < deadline, "the base desktop type never appeared in the catalog"
            time.sleep(0.2)

    def containers_of(self, desktop_ids: set[str]) -> list:
        return [c for c in containers_of(self.docker, self.instance) if c.labels.get(DESKTOP_LABEL) in desktop_ids]

    # --- viewers

    def sign_in_page(self, page: Page, person: Person) -> None:
        answer = page.context.request.post(
            self.proxy.url + "/api/auth/local/login", data={"username": person.username, "password": PASSWORD}
        )
        assert answer.ok, answer.text()

    def open_viewer(self, page: Page, desktop_id: str, protocol: str = "guacamole") -> None:
        page.goto(f"{self.proxy.url}/desktops/{desktop_id}/view?protocol={protocol}")
        expect_drawn(page)


def _alive(pid: int) -> bool:
    """A zombie counts as dead: only its parent's wait is missing (the parent is gone too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def expect_drawn(page: Page, timeout: float = 30) -> None:
    expect(page.locator("#viewer")).to_have_attribute("data-state", "connected", timeout=timeout * 1000)
    page.wait_for_function(DRAWN_COLOURS, arg=DRAWN, timeout=timeout * 1000)


def watch_states(page: Page) -> None:
    """Record the viewer's states from now on: a fault's `reconnecting` may be over before it is looked for."""
    page.evaluate("""() => {
      const viewer = document.getElementById('viewer');
      window.__states = [];
      new MutationObserver(() => window.__states.push(viewer.dataset.state + '@' + Math.round(performance.now())))
        .observe(viewer, { attributes: true, attributeFilter: ['data-state'] });
    }""")


def seconds_until_redrawn(page: Page, since: float, timeout: float = 60) -> float:
    """After a fault (and `watch_states` before it): the viewer said it reconnects, and is
    connected and draws again. A new connection draws into a new display, not the old one's."""
    page.wait_for_function("() => window.__states.some((s) => s.startsWith('reconnecting'))", timeout=timeout * 1000)
    expect_drawn(page, timeout)
    return time.monotonic() - since


class WireViewer:
    """A Guacamole viewer on the wire (tests/tunnels' Viewer), kept open as guacamole-common-js keeps
    one: it answers every `sync` and sends `nop` every few seconds, in a thread of its own."""

    def __init__(self, url: str, token: str):
        self.viewer = Viewer(url, token)
        seen = self.viewer.until("sync")
        self.drew = any(opcode in ("img", "png") for opcode, _ in seen)
        self.closed = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        ws = self.viewer.ws
        ws.settimeout(1)
        last_nop = time.monotonic()
        try:
            while ws.connected:
                with contextlib.suppress(websocket.WebSocketTimeoutException):
                    message = ws.recv()
                    if not message:
                        break
                    for opcode, *args in parse(message, 1 << 20):
                        if opcode == "sync":
                            ws.send(encode("sync", args[0]))
                if time.monotonic() - last_nop >= 3:
                    ws.send(encode("nop"))
                    last_nop = time.monotonic()
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.closed.set()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.viewer.ws.close()


class DesktopEvents:
    """A person's /api/events stream (the dashboard's), read in a thread: every `desktops` event
    with the moment it arrived."""

    def __init__(self, person: Person):
        self.events: queue.Queue[tuple[float, list[dict]]] = queue.Queue()
        self.ended = threading.Event()
        self.response = person.call("get", "/api/events", stream=True, timeout=(10, 30))
        assert self.response.status_code == 200, self.response.text
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = None
        with contextlib.suppress(requests.RequestException, AttributeError, ValueError):
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "desktops":
                    self.events.put((time.monotonic(), json.loads(line.removeprefix("data: "))["desktops"]))
        self.ended.set()

    def wait_for(self, wanted: Callable[[list[dict]], bool], timeout: float) -> float:
        """The moment a `desktops` event satisfying `wanted` arrived."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(queue.Empty):
                at, desktops = self.events.get(timeout=remaining)
                if wanted(desktops):
                    return at
        raise AssertionError(f"no such event on the stream within {timeout} s")

    def close(self) -> None:
        self.response.close()
