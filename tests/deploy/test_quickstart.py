"""The README's first command, on a fresh copy of the repository: it sets up, runs the broker
on SQLite with guacd next to it, prints an admin password that signs in, and a desktop
started through the API is drawn through the tunnel."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
import websocket

from broker.engine import docker_client
from broker.tunnels.protocol import encode, parse
from tests.fixtures.broker import free_port
from tests.fixtures.desktops import remove_everything_of

pytestmark = pytest.mark.docker  # the quickstart starts guacd and a desktop on the engine

ROOT = Path(__file__).resolve().parents[2]


def fresh_copy(target: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_quickstart_runs_the_product_with_a_working_admin(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/quickstart.sh" in readme and "./scripts/test.sh" in readme
    repo = fresh_copy(tmp_path / "deskbroker")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESKBROKER_", "VIRTUAL_ENV"))}
    instance = "qs" + secrets.token_hex(4)
    env.update(
        DESKBROKER_LISTEN=f"127.0.0.1:{port}",
        DESKBROKER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        DESKBROKER_INSTANCE=instance,
        DESKBROKER_DESKTOP_NETWORK=f"{instance}-desktops",
    )
    log = tmp_path / "quickstart.log"
    process = subprocess.Popen(
        ["./scripts/quickstart.sh"],
        cwd=repo,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        password = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            match = re.search(r"created admin with password: (\S+)", log.read_text())
            password = password or (match and match.group(1))
            try:
                if password and requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).ok:
                    break
            except requests.RequestException:  # not listening yet, or slow on a busy machine
                pass
            time.sleep(0.5)
        assert password and process.poll() is None, log.read_text()[-3000:]
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/auth/local/login",
            json={"username": "admin", "password": password},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["user"]["roles"] == ["admin"]
        assert (repo / "var" / "deskbroker.db").exists()
        assert password not in (repo / ".env").read_text()
        assert_desktop_is_drawn(f"http://127.0.0.1:{port}", answer.json()["session_token"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        remove_everything_of(docker_client(), instance)


def assert_desktop_is_drawn(url: str, token: str) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + 60  # the catalog is read from the images right after start
    while "base" not in {t["id"] for t in http.get(url + "/api/container/list").json()["desktop_types"]}:
        assert time.monotonic() < deadline, "the desktop catalog stayed empty"
        time.sleep(0.5)
    desktop = http.post(url + "/api/container/start?desktop_type=base", timeout=90).json()
    assert desktop["state"] == "running", desktop
    tunnel = http.post(f"{url}/api/desktops/{desktop['id']}/connect", json={}).json()
    ws = websocket.create_connection(
        url.replace("http", "ws") + f"/tunnel?token={tunnel['token']}&width=800&height=600",
        subprotocols=["guacamole"],
        timeout=20,
    )
    seen = set()
    while not seen & {"img", "png"}:
        for opcode, *args in parse(ws.recv(), 1 << 20):
            assert opcode != "error", args
            seen.add(opcode)
            if opcode == "sync":
                ws.send(encode("sync", args[0]))
    ws.close()
