"""The real stack the hostile-input tests attack, started once per test session.

`broker serve` (gunicorn + gevent) on PostgreSQL with local sign-in and single sign-on (a real
oidc-provider), guacd and websockify on the private desktop network, and anna's running desktop
(a real container) with files in her home and a connection in the log. The tests sign people in
over HTTP (`stack.person(...)`) and check afterwards, through the database, the engine and the
home volume, that nothing of anna's changed (`stack.state_of(anna.person)`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import requests
import websocket
from sqlalchemy import select

from broker import desktops
from broker.app import create_app
from broker.auth.users import create_local_user
from broker.crypto import decrypt
from broker.db import make_engine, upgrade
from broker.desktops.catalog import sync_catalog
from broker.desktops.naming import home_volume_name
from broker.desktops.provider import BROKER_LABEL, OWNER_ID_LABEL
from broker.images.build import build_images
from broker.models import AuthSession, Connection, Desktop, Group, TunnelToken, User
from broker.tunnels.protocol import encode
from tests.fixtures.broker import LiveBroker, free_port, make_settings, start_live_broker
from tests.fixtures.desktops import (PASSWORD, desktop_overrides, engine_client, remove_everything_of,
                                     run_beside_desktops)
from tests.fixtures.oidc import start_oidc_provider
from tests.tier.containers import GUACD_PORT, WEBSOCKIFY_PORT, wait_for_port
from tests.fixtures.tunnel_viewer import Viewer

WEBSOCKIFY_KEY = secrets.token_urlsafe(40)
TIMEOUT = 30


@dataclass
class Person:
    """Someone signed in to the live broker; `call` sends the session as a Bearer token."""

    url: str
    username: str
    user_id: int
    token: str
    csrf: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs["headers"] = {"Authorization": f"Bearer {self.token}", **kwargs.get("headers", {})}
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.url + path, **kwargs)

    def browser(self) -> requests.Session:
        """An HTTP session carrying the sign-in as the browser does: in the cookie only."""
        http = requests.Session()
        http.cookies.set("deskbroker_session", self.token, domain="127.0.0.1", path="/")
        return http


class LiveViewer(Viewer):
    """A viewer kept open in the background (answering syncs, pinging), as an open browser tab is."""

    def __init__(self, broker_url: str, token: str):
        super().__init__(broker_url, token)
        assert self.drawn()
        self._stop = threading.Event()
        self.ws.settimeout(1)
        self._thread = threading.Thread(target=self._keep_open, daemon=True)
        self._thread.start()

    def _keep_open(self) -> None:
        last_ping = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_ping > 5:
                self.ws.send(encode("", "ping", str(int(time.time() * 1000))))
                last_ping = time.monotonic()
            try:
                for _ in self.instructions(timeout=1):
                    pass
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:  # noqa: BLE001 - closed: the check on the connection record will say so
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        super().close()


@dataclass
class Owner:
    """anna: her person, desktop, files and connection, and the secrets nobody else may see."""

    person: Person
    desktop_id: str
    container_id: str
    address: str
    vnc_password: str
    group_id: int
    group_key: str
    file: str  # a file in her home that the attacks name
    hidden: str  # one they never name: it shows up only if a listing leaks
    folder: str
    content: str
    connection_id: str = ""
    live_connection_id: str = ""
    extra_secrets: set[str] = field(default_factory=set)

    def secrets(self) -> set[str]:
        return {self.desktop_id, self.container_id, self.container_id[:12], self.address, self.vnc_password,
                self.person.username, self.person.token, self.person.csrf, self.file, self.hidden, self.folder,
                self.content, self.connection_id, self.live_connection_id, self.group_key,
                *self.extra_secrets} - {""}


def revealed(text: str, secrets_: set[str], sent: str) -> set[str]:
    """The secrets in `text` that the request (`sent`) did not carry itself."""
    found = set()
    for secret in secrets_:
        if secret in sent:
            continue
        if re.search(rf"(?<![\w.-]){re.escape(secret)}(?![\w-])", text):
            found.add(secret)
    return found


def tree(root: Path) -> dict[str, tuple]:
    """Everything under `root` but the desktop's own dot files: path -> (kind, size, mode, mtime)."""
    found = {}
    for folder, folders, names in os.walk(root):
        if Path(folder) == root:
            folders[:] = [name for name in folders if not name.startswith(".")]
            names = [name for name in names if not name.startswith(".")]
        for name in folders + names:
            info = (Path(folder) / name).lstat()
            found[str((Path(folder) / name).relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


class Stack:
    """The running parts; the broker, websockify, anna and her live viewer are set as they start."""

    broker: LiveBroker
    websockify_address: str
    anna: Owner
    live: LiveViewer

    def __init__(self, url: str, app, engine, instance: str):
        self.url, self.app, self.engine, self.instance = url, app, engine, instance
        self.sessions = app.extensions[desktops.EXTENSION].sessions

    def person(self, name: str, roles: tuple[str, ...] = ()) -> Person:
        """A new local account, signed in to the live broker."""
        username = f"{name}_{secrets.token_hex(3)}"
        with self.sessions() as db:
            user, _ = create_local_user(db, username, PASSWORD, list(roles))
            db.commit()
            user_id = user.id
        return self.sign_in(username, user_id)

    def sign_in(self, username: str, user_id: int) -> Person:
        answer = requests.post(self.url + "/api/auth/local/login", json={"username": username, "password": PASSWORD},
                               timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return Person(self.url, username, user_id, body["session_token"], body["csrf_token"])

    def connect(self, person: Person, desktop_id: str | None = None, **body) -> requests.Response:
        return person.call("post", f"/api/desktops/{desktop_id or self.anna.desktop_id}/connect", json=body)

    def tunnel_token(self, person: Person, **body) -> str:
        answer = self.connect(person, **body)
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    def viewer(self, token: str, **options) -> Viewer:
        return Viewer(self.url, token, **options)

    def websockify(self, token: str) -> websocket.WebSocket:
        return websocket.create_connection(f"ws://{self.websockify_address}:{WEBSOCKIFY_PORT}/websockify?token={token}",
                                           subprotocols=["binary"], timeout=10, origin=self.url)

    def session_alive(self, person: Person) -> bool:
        return person.call("get", "/api/auth/session").status_code == 200

    def broker_log(self) -> str:
        return self.broker.output()

    @contextlib.contextmanager
    def no_stack_traces(self) -> Iterator[None]:
        """Fails when the broker logged a stack trace (an unhandled error) meanwhile."""
        start = len(self.broker_log())
        yield
        new = self.broker_log()[start:]
        assert "Traceback" not in new, new[max(0, new.find("Traceback") - 300):][:6000]

    def home_of(self, person: Person) -> Path | None:
        name = home_volume_name(self.instance, f"local:{person.username}")
        volumes = [volume for volume in self.engine.volumes.list(filters={"name": name}) if volume.name == name]
        return Path(volumes[0].attrs["Mountpoint"]) if volumes else None

    def state_of(self, person: Person) -> dict:
        """Everything of a person's that someone else's request could change."""
        user_id = person.user_id
        with self.sessions() as db:
            user = db.get(User, user_id)
            state = {
                "user": (user.username, user.disabled, user.display_name, user.email, tuple(user.role_names),
                         tuple(sorted(g.key for g in user.groups)), user.password_hash),
                "desktops": [(d.id, d.state, d.container_id, d.address, d.vnc_password_encrypted, d.started_at,
                              d.stopped_at, d.last_activity_at, d.desktop_type_id)
                             for d in db.scalars(select(Desktop).where(Desktop.user_id == user_id).order_by(Desktop.id))],
                "sessions": [(s.id, s.revoked_at, s.expires_at, s.csrf_token)
                             for s in db.scalars(select(AuthSession).where(AuthSession.user_id == user_id)
                                                 .order_by(AuthSession.id))],
                "tunnel_tokens": [(t.id, t.used_at, t.expires_at, t.mode)
                                  for t in db.scalars(select(TunnelToken).where(TunnelToken.user_id == user_id)
                                                      .order_by(TunnelToken.id))],
                "connections": [(c.id, c.ended_at, c.kill_requested_at, c.mode)
                                for c in db.scalars(select(Connection).where(Connection.user_id == user_id)
                                                    .order_by(Connection.id))],
            }
        owned = {"label": [f"{BROKER_LABEL}={self.instance}", f"{OWNER_ID_LABEL}=local:{person.username}"]}
        containers = self.engine.containers.list(all=True, filters=owned)
        state["containers"] = sorted((c.id, c.status, c.attrs["State"]["StartedAt"]) for c in containers)
        home = self.home_of(person)
        state["home"] = tree(home) if home else {}
        return state


def _start_anna(stack: Stack, app) -> Owner:
    """anna: signed in, a running desktop (through the in-process app, which also makes the network)."""
    with stack.sessions() as db:
        group = Group(key=f"7a-{secrets.token_hex(3)}", name="Klasse 7a")
        db.add(group)
        db.commit()
        group_id, group_key = group.id, group.key
    username = f"anna_{secrets.token_hex(3)}"
    with stack.sessions() as db:
        user, _ = create_local_user(db, username, PASSWORD)
        user.groups.append(db.get(Group, group_id))
        db.commit()
        user_id = user.id
    client = app.test_client()  # the same database as the live broker: the session is good there too
    session = client.post("/api/auth/local/login", json={"username": username, "password": PASSWORD}).get_json()
    person = Person(stack.url, username, user_id, session["session_token"], session["csrf_token"])
    started = client.post("/api/container/start?desktop_type=base", headers={"Authorization": f"Bearer {person.token}"})
    assert started.status_code == 200, started.get_json()
    desktop_id = started.get_json()["id"]
    with stack.sessions() as db:
        desktop = db.get(Desktop, desktop_id)
        container_id, address = desktop.container_id, desktop.address
        password = decrypt(app.extensions["deskbroker"].settings.core.secret_key, desktop.vnc_password_encrypted)
    marker = secrets.token_hex(4)
    return Owner(person=person, desktop_id=desktop_id, container_id=container_id,
                 address=address, vnc_password=password, group_id=group_id, group_key=group_key,
                 file=f"anna-file-{marker}.txt", hidden=f"anna-hidden-{marker}.txt", folder=f"anna-folder-{marker}",
                 content=f"anna-content-{secrets.token_hex(8)}")


def _fill_anna(stack: Stack, anna: Owner) -> None:
    """Her files (through the file manager), one ended and one live connection."""
    person = anna.person
    files = [("files", (anna.file, anna.content.encode())), ("files", (anna.hidden, anna.content.encode()))]
    assert person.call("post", "/api/files/home/upload", files=files).status_code == 201
    assert person.call("post", "/api/files/home/folder", json={"path": anna.folder}).status_code == 201
    inner = [("files", ("inside.txt", anna.content.encode()))]
    assert person.call("post", "/api/files/home/upload", params={"path": anna.folder}, files=inner).status_code == 201
    ended = stack.viewer(stack.tunnel_token(person))
    assert ended.drawn()
    ended.close()
    stack.live = LiveViewer(stack.url, stack.tunnel_token(person))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with stack.sessions() as db:
            rows = db.scalars(select(Connection).where(Connection.user_id == person.user_id)
                              .order_by(Connection.started_at)).all()
            if len(rows) == 2 and rows[0].ended_at is not None:
                anna.connection_id, anna.live_connection_id = rows[0].id, rows[1].id
                return
        time.sleep(0.1)
    raise AssertionError("anna's two connections were not logged")


@pytest.fixture(scope="session")
def hostile_stack(postgres, tmp_path_factory) -> Iterator[Stack]:
    engine = engine_client()
    build_images(engine, ["base", "guacd", "websockify", "netguard"], progress=lambda _line: None)
    instance = "t" + secrets.token_hex(4)
    database_url = postgres.new_database()
    migrator = make_engine(database_url)
    upgrade(migrator)
    migrator.dispose()
    port = free_port()
    started: list = []
    provider = broker = None
    try:
        provider = start_oidc_provider(redirect_uris=[f"http://127.0.0.1:{port}/api/auth/authorize"], require_pkce=True)
        settings = desktop_overrides(instance, login_max_failures="1000000", login_address_max_failures="1000000",
                                     websockify_key=WEBSOCKIFY_KEY,
                                     oidc_client_id=provider.client_id, oidc_client_secret=provider.client_secret,
                                     oidc_discovery_url=provider.discovery_url)
        app = create_app(make_settings(database_url=database_url, **settings))
        lifecycle = app.extensions[desktops.EXTENSION]
        with lifecycle.sessions() as db:
            sync_catalog(db, lifecycle.provider.catalog())
        stack = Stack(f"http://127.0.0.1:{port}", app, engine, instance)
        anna = _start_anna(stack, app)

        network = f"{instance}-desktops"

        def run(image: str, **options) -> str:
            container, address = run_beside_desktops(engine, instance, network, image, **options)
            started.append(container)
            return address

        guacd = run("deskbroker/guacd:latest")
        stack.websockify_address = run("deskbroker/websockify:latest",
                                       environment={"VNC_TOKEN_KEY": WEBSOCKIFY_KEY, "ALLOWED_ORIGINS": stack.url},
                                       read_only=True, tmpfs={"/tmp": ""})
        wait_for_port(guacd, GUACD_PORT)
        wait_for_port(stack.websockify_address, WEBSOCKIFY_PORT)
        stack.broker = broker = start_live_broker(tmp_path_factory.mktemp("hostile"), database_url, port,
                                                  **settings, guacd_host=guacd)
        stack.anna = anna
        _fill_anna(stack, anna)
        yield stack
        stack.live.close()
    finally:
        if broker is not None:
            broker.stop()
        if provider is not None:
            provider.close()
        for container in started:  # before the instance's network goes
            container.remove(force=True)
        remove_everything_of(engine, instance)
