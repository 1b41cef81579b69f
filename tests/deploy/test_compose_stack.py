"""The whole compose stack, installed as docs/operations.md "Production" says, on a machine
without a registry: deploy/init.sh, `docker-compose up -d --build`, a local admin. Then, from
outside the stack through nginx (the only published port, on loopback): sign in, start a
desktop, connect through /tunnel and /websockify, see it drawn in headless Chromium; the same
through the Apache example; `docker-compose down` and up again (now through the socket proxy)
keeps people, homes and the database; the broker runs as the desktop user with no capability,
and its file manager works before and after a desktop ran, also through the socket proxy.
Prints figures: time to a working stack, image sizes, the broker's idle memory (also in
tests/artifacts/deploy-figures.txt)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import ssl
import time
from pathlib import Path

import pytest
import requests
import urllib3
import websocket
from docker.errors import ImageNotFound

from broker.rfb import RFBClient
from broker.tunnels.protocol import encode, parse
from tests.deploy.conftest import ROOT, Compose, fresh_copy, init_install, wait_until
from tests.fixtures.broker import free_port
from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.desktops import remove_everything_of
from tests.support.container_usage import memory_mib
from tests.tier.containers import WebSocketStream

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the stack's self-signed certificate

PASSWORD = "a deploy test password"
NO_VERIFY = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
STACK_IMAGES = ("broker", "postgres", "guacd", "websockify", "nginx", "socket-proxy")
# Services to build; the other desktop images are left to the images tool. The guacd service runs
# GUACD_IMAGE, deskbroker/guacd without a registry, which guacd-debian builds.
BUILT = (*(name for name in STACK_IMAGES if name != "guacd"), "guacd-debian", "desktop-base")
# Distinct colours among sampled pixels of the viewer's largest canvas: a drawn desktop has many.
DRAWN = """() => {
  const canvas = [...document.querySelectorAll('#screen canvas')]
    .sort((a, b) => b.width * b.height - a.width * a.height)[0];
  if (!canvas || !canvas.width) return false;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4 * 101) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return colours.size >= 20;
}"""


class Stack:
    def __init__(self, compose: Compose, url: str, instance: str):
        self.compose, self.url, self.instance = compose, url, instance
        self.figures: dict[str, str] = {}

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs.setdefault("timeout", 60)
        return requests.request(method, self.url + path, headers=headers, verify=False, **kwargs)

    def create_user(self, username: str, *roles: str) -> None:
        """A local account; `roles` as the command's options, e.g. "--admin"."""
        self.compose(
            "exec",
            "-T",
            "broker",
            "broker",
            "users",
            "create",
            username,
            *roles,
            "--password-stdin",
            input=PASSWORD + "\n",
        )

    def sign_in(self, username: str) -> str:
        answer = self.api("POST", "/api/auth/local/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return answer.json()["session_token"]

    def start_desktop(self, token: str) -> dict:
        answer = self.api("POST", "/api/container/start?desktop_type=base", token)
        assert answer.status_code == 200 and answer.json()["state"] == "running", answer.text
        return answer.json()

    def connect(self, token: str, desktop: dict, **body) -> dict:
        answer = self.api("POST", f"/api/desktops/{desktop['id']}/connect", token, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wss(self, path: str) -> str:
        return self.url.replace("https://", "wss://") + path

    def ready(self) -> bool:
        try:
            return self.api("GET", "/readyz").status_code == 200
        except requests.ConnectionError:
            return False


def through_the_socket_proxy(stack: Stack) -> None:
    """The broker reaches the engine through the socket proxy from now on (turned on as docs/operations.md says)."""
    if "socket-proxy" not in stack.compose.setting("COMPOSE_PROFILES"):
        stack.compose.set(
            COMPOSE_PROFILES="proxy,socket-proxy",
            BROKER_DOCKER_HOST="tcp://socket-proxy:2375",
            BROKER_DOCKER_SOCKET="/dev/null",
        )
        up(stack)


def up(stack: Stack) -> float:
    """`docker-compose up -d`, then seconds until the broker answers through the proxy."""
    started = time.monotonic()
    stack.compose("up", "-d", timeout=300)
    wait_until(stack.ready, 180, "the stack did not answer through the proxy")
    return time.monotonic() - started


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_engine, request):
    started = time.monotonic()
    debian_images = request.getfixturevalue("debian_images")  # the images tool, timed with the rest
    instance = "d" + secrets.token_hex(4)
    https_port = free_port()
    url = f"https://127.0.0.1:{https_port}"
    directory = fresh_copy(tmp_path_factory.mktemp("deskbroker-install"))
    compose = init_install(
        directory,
        COMPOSE_PROJECT_NAME=instance,
        DESKBROKER_INSTANCE=instance,
        DEBIAN_REPOSITORY=debian_images,
        PROXY_ADDRESS="127.0.0.1",
        HTTPS_PORT=str(https_port),
        HTTP_PORT=str(free_port()),
        DESKBROKER_PUBLIC_URL=url,
    )
    stack = Stack(compose, url, instance)
    try:
        compose("config", "-q")
        built = time.monotonic()
        compose("--profile", "socket-proxy", "--profile", "images", "build", "--parallel", *BUILT, timeout=1500)
        stack.figures["stack image builds"] = f"{time.monotonic() - built:.0f} s"
        stack.figures["up → ready through nginx"] = f"{up(stack):.1f} s"
        stack.figures["this run: images tool + builds + up"] = f"{time.monotonic() - started:.0f} s"
        stack.create_user("admin")
        time.sleep(5)
        stack.figures["broker idle memory"] = f"{memory_mib(docker_engine, compose.container('broker')):.0f} MiB"
        yield stack
    finally:
        for name in STACK_IMAGES:
            with contextlib.suppress(ImageNotFound):
                size = docker_engine.images.get(f"deskbroker/{name}:latest").attrs["Size"]
                stack.figures[f"image deskbroker/{name}"] = f"{size / 1e6:.0f} MB"
        report(request, stack.figures)
        compose.set(COMPOSE_PROFILES="proxy,socket-proxy")
        compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        remove_everything_of(docker_engine, instance)  # desktops, homes, the desktops' network


def report(request, figures: dict[str, str]) -> None:
    lines = [f"{name:40} {value}" for name, value in figures.items()]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "deploy-figures.txt").write_text("\n".join(lines) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line("\ndeploy figures:")
        for line in lines:
            reporter.write_line("  " + line)


def guacamole_opcodes(stack: Stack, token: str, origin: str | None = None) -> set[str]:
    """What guacamole-common-js sees over /tunnel until guacd's first frame is complete."""
    ws = websocket.create_connection(
        stack.wss(f"/tunnel?token={token}&width=1024&height=768&dpi=96"),
        subprotocols=["guacamole"],
        sslopt=NO_VERIFY,
        timeout=15,
        origin=origin,
    )
    assert ws.getsubprotocol() == "guacamole"
    seen: set[str] = set()
    deadline = time.monotonic() + 20
    while "sync" not in seen and "error" not in seen and time.monotonic() < deadline:
        for opcode, *args in parse(ws.recv(), 1 << 20):
            if opcode == "sync":
                ws.send(encode("sync", args[0]))
            seen.add(opcode)
    ws.close()
    return seen


def rfb_framebuffer_width(url: str, password: str, origin: str | None = None) -> int:
    """noVNC's part: a WebSocket with the `binary` subprotocol, VNC login, one framebuffer."""
    ws = websocket.create_connection(url, subprotocols=["binary"], sslopt=NO_VERIFY, timeout=15, origin=origin)
    greeting = ws.recv()
    assert greeting.startswith(b"RFB 003.00")
    with RFBClient.over(WebSocketStream(ws, already_read=greeting), password) as session:
        return session.framebuffer().width


def first_event_seconds(stack: Stack, token: str) -> float | None:
    """Seconds until the dashboard's first server-sent event arrives (None: no such endpoint)."""
    started = time.monotonic()
    with stack.api("GET", "/api/events", token, stream=True, timeout=10) as answer:
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith(b"data:"):
                return time.monotonic() - started
    raise AssertionError("the event stream ended without an event")


def test_only_the_proxy_is_published(stack, docker_engine):
    containers = docker_engine.containers.list(filters={"label": f"com.docker.compose.project={stack.instance}"})
    published = {c.labels["com.docker.compose.service"] for c in containers if c.attrs["HostConfig"]["PortBindings"]}
    assert published == {"nginx"}
    network = docker_engine.networks.get(f"{stack.instance}-desktops")
    assert network.attrs["Internal"]


def test_the_services_go_before_the_desktops_when_the_cpu_runs_short(stack, docker_engine):
    """A class's desktops all booting keep the CPU busy: sign-ins, handshakes and first frames come first."""
    containers = docker_engine.containers.list(filters={"label": f"com.docker.compose.project={stack.instance}"})
    weights = {c.labels["com.docker.compose.service"]: c.attrs["HostConfig"]["CpuShares"] for c in containers}
    assert {"broker", "guacd", "websockify", "postgres"} <= set(weights), weights
    assert set(weights.values()) == {8192}, weights  # a desktop has Docker's default, 1024


def test_the_broker_runs_as_the_desktop_user_with_no_capability(stack, docker_engine):
    broker = docker_engine.containers.get(stack.compose.container("broker"))
    assert broker.attrs["Config"]["User"] == "deskbroker"  # the image's user, not overridden
    host = broker.attrs["HostConfig"]
    assert not host["CapAdd"] and host["CapDrop"] == ["ALL"], (host["CapAdd"], host["CapDrop"])
    assert host["ReadonlyRootfs"] and "no-new-privileges:true" in host["SecurityOpt"]
    ids = stack.compose("exec", "-T", "broker", "sh", "-c", "id -u; id -g; id -G").stdout.split("\n")
    assert ids[:2] == ["1000", "1000"], ids  # the desktop user's uid and gid
    assert stack.compose.setting("DOCKER_GID") in ids[2].split()  # the socket's group, to reach the engine
    status = stack.compose("exec", "-T", "broker", "grep", "^Cap", "/proc/self/status").stdout
    assert {line.split()[1] for line in status.splitlines()} == {"0000000000000000"}, status


def test_sign_in_start_a_desktop_and_see_it_through_the_proxy(stack, docker_engine, browser):
    token = stack.sign_in("admin")
    desktop = stack.start_desktop(token)
    assert not docker_engine.containers.get(desktop["container_id"]).attrs["HostConfig"]["PortBindings"]

    opcodes = guacamole_opcodes(stack, stack.connect(token, desktop)["token"])
    assert "error" not in opcodes and opcodes & {"img", "png"} and "size" in opcodes, opcodes

    novnc = stack.connect(token, desktop, protocol="novnc")
    assert rfb_framebuffer_width(stack.wss(novnc["websockify_url"]), novnc["password"]) > 0
    assert (first_event_seconds(stack, token) or 0) < 5  # not held back in a proxy's buffer

    uploaded = stack.api(
        "POST", "/api/files/home/upload?path=", token, files={"files": ("Übung.txt", b"through the proxy")}
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    home_file = docker_engine.containers.get(desktop["container_id"]).exec_run(["cat", "/home/user/Übung.txt"])
    assert home_file.output.decode() == "through the proxy"

    page = signed_in_page(stack, browser, "admin")
    try:
        for protocol in ("guacamole", "novnc"):
            open_drawn_viewer(stack, page, desktop, protocol)
            page.screenshot(path=str(ARTIFACTS / f"deploy-viewer-{protocol}.png"))
    finally:
        page.context.close()


def signed_in_page(stack: Stack, browser, username: str):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    credentials = {"username": username, "password": PASSWORD}
    answer = context.request.post(stack.url + "/api/auth/local/login", data=credentials)
    assert answer.ok, answer.text()
    return context.new_page()


def open_drawn_viewer(stack: Stack, page, desktop: dict, protocol: str = "guacamole") -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2, 3):
        console.clear()
        try:
            page.goto(f"{stack.url}/desktops/{desktop['id']}/view?protocol={protocol}")
            page.wait_for_selector("#viewer[data-state=connected]", timeout=30_000)
            page.wait_for_function(DRAWN, timeout=20_000)
            return
        except Exception as error:
            # Chromium on the engine's own host aborts what it is loading when the engine adds
            # or removes a network interface (a container's veth): a browser elsewhere never
            # sees that. Such a page is loaded once more, as a person would reload it.
            changed = "ERR_NETWORK_CHANGED" in str(error) or any("ERR_NETWORK_CHANGED" in line for line in console)
            if attempt < 3 and changed:
                continue
            page.screenshot(path=str(ARTIFACTS / f"deploy-viewer-{protocol}-failed.png"))
            state = page.locator("#viewer").get_attribute("data-state")
            raise AssertionError(
                f"{protocol} viewer: state {state}, overlay "
                f"{page.locator('#overlay').inner_text()!r}, console {console}"
            ) from error


def brokers_holding(stack: Stack, docker_engine, desktop: dict) -> list[str]:
    """The broker replicas whose log has a tunnel to the desktop opened."""
    ids = stack.compose("ps", "-q", "broker").stdout.split()
    opened = f"to desktop {desktop['id']} on guacd"
    return [id for id in ids if opened in docker_engine.containers.get(id).logs().decode(errors="replace")]


def test_two_brokers_the_viewers_of_one_killed_reconnect_through_the_other(stack, docker_engine, browser):
    """BROKER_REPLICAS=2 behind the stack's nginx, on its PostgreSQL: the broker holding a viewer's
    tunnel is killed, and the viewer draws the desktop again through the other by itself."""
    stack.compose.set(BROKER_REPLICAS="2")
    up(stack)
    ids = stack.compose("ps", "-q", "broker").stdout.split()
    assert len(ids) == 2
    wait_until(
        lambda: all(docker_engine.containers.get(id).attrs["State"]["Health"]["Status"] == "healthy" for id in ids),
        120,
        "both brokers were not healthy",
    )
    stack.create_user("dora")
    token = stack.sign_in("dora")
    desktop = stack.start_desktop(token)
    page = signed_in_page(stack, browser, "dora")
    try:
        open_drawn_viewer(stack, page, desktop)
        [holding] = brokers_holding(stack, docker_engine, desktop)
        [other] = [id for id in ids if id != holding]

        killed = time.monotonic()
        docker_engine.containers.get(holding).kill()
        page.wait_for_selector("#viewer:not([data-state=connected])", timeout=15_000)
        page.wait_for_selector("#viewer[data-state=connected]", timeout=60_000)
        page.wait_for_function(DRAWN, timeout=20_000)
        stack.figures["2 brokers: one killed → its viewer drawn again"] = f"{time.monotonic() - killed:.1f} s"
        assert other in brokers_holding(stack, docker_engine, desktop)  # the tunnel goes through the other now
        assert stack.api("GET", "/api/container/list", token).status_code == 200  # and so does the API
        page.screenshot(path=str(ARTIFACTS / "deploy-two-brokers-reconnected.png"))
    finally:
        page.context.close()
        stack.compose.set(BROKER_REPLICAS="1")
        up(stack)


def test_the_broker_believes_its_nginx_only_and_answers_only_the_public_urls_pages(stack, docker_engine):
    """The address the audit log and throttling see is the one nginx saw (not nginx's own, not one a
    client wrote); /tunnel and websockify through nginx refuse another site's page."""
    stack.create_user("grace", "--admin")
    answer = requests.post(
        stack.url + "/api/auth/local/login",
        verify=False,
        timeout=60,
        headers={"X-Forwarded-For": "203.0.113.9"},
        json={"username": "grace", "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["session_token"]
    logins = stack.api("GET", "/api/admin/audit?action=login&limit=1", token).json()["events"]
    nginx = docker_engine.containers.get(stack.compose.container("nginx"))
    nginx_ip = nginx.attrs["NetworkSettings"]["Networks"][f"{stack.instance}_frontend"]["IPAddress"]
    assert logins[0]["ip"] not in ("203.0.113.9", nginx_ip, ""), logins[0]

    desktop = stack.start_desktop(token)
    evil = "https://evil.example"
    ws = websocket.create_connection(
        stack.wss(f"/tunnel?token={stack.connect(token, desktop)['token']}"),
        subprotocols=["guacamole"],
        sslopt=NO_VERIFY,
        timeout=15,
        origin=evil,
    )
    instructions = [instruction for _ in range(2) for instruction in parse(ws.recv(), 1 << 20)]
    ws.close()
    assert instructions[-1][0] == "error" and instructions[-1][2] == "771", instructions
    novnc = stack.connect(token, desktop, protocol="novnc")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            stack.wss(novnc["websockify_url"]), subprotocols=["binary"], sslopt=NO_VERIFY, timeout=15, origin=evil
        )
    assert refused.value.status_code == 403


def test_the_image_serves_every_asset_the_pages_name(stack):
    token = stack.sign_in("admin")
    desktop = stack.start_desktop(token)
    assets: set[str] = set()
    for page in (
        "/",
        "/files",
        f"/desktops/{desktop['id']}/view?protocol=guacamole",
        f"/desktops/{desktop['id']}/view?protocol=novnc",
    ):
        answer = stack.api("GET", page, token)
        assert answer.status_code == 200, page
        assets |= set(re.findall(r'(?:src|href)="(/static/[^"?]+)', answer.text))
    for script in [asset for asset in assets if asset.endswith(".js")]:
        folder = script.rsplit("/", 1)[0]
        chunks = re.findall(r'["\'](\./chunks/[^"\']+\.js)["\']', stack.api("GET", script).text)
        assets |= {f"{folder}/{chunk[2:]}" for chunk in chunks}
    assert any(asset.startswith("/static/app/chunks/") for asset in assets)
    missing = [asset for asset in sorted(assets) if stack.api("GET", asset).status_code != 200]
    assert missing == []


def test_the_apache_example_carries_pages_and_both_websockets(stack, docker_engine, apache_image):
    site = (ROOT / "deploy" / "apache" / "deskbroker.conf").read_text()
    site = site.replace("http://127.0.0.1:8080", "http://broker:8080").replace(
        "http://127.0.0.1:6080", "http://websockify:6080"
    )
    path = Path(stack.compose.directory) / "apache-site.conf"
    path.write_text(site)
    apache = docker_engine.containers.run(
        apache_image,
        ["apache2ctl", "-D", "FOREGROUND"],
        detach=True,
        network=f"{stack.instance}_frontend",
        name=f"{stack.instance}-apache",
        labels={"io.deskbroker.broker": stack.instance},
        volumes={str(path): {"bind": "/etc/apache2/sites-enabled/deskbroker.conf", "mode": "ro"}},
    )
    try:
        apache.reload()
        address = apache.attrs["NetworkSettings"]["Networks"][f"{stack.instance}_frontend"]["IPAddress"]
        through_apache = Stack(stack.compose, f"https://{address}", stack.instance)
        wait_until(through_apache.ready, 30, "Apache did not pass /readyz on")
        token = through_apache.sign_in("admin")
        desktop = through_apache.start_desktop(token)
        # The pages' origin stays the public URL (here Apache stands in for the stack's nginx).
        opcodes = guacamole_opcodes(through_apache, through_apache.connect(token, desktop)["token"], stack.url)
        assert opcodes & {"img", "png"} and "error" not in opcodes, opcodes
        novnc = through_apache.connect(token, desktop, protocol="novnc")
        assert rfb_framebuffer_width(through_apache.wss(novnc["websockify_url"]), novnc["password"], stack.url) > 0
        assert (first_event_seconds(through_apache, token) or 0) < 5
    finally:
        apache.remove(force=True)


def test_down_and_up_keeps_people_homes_and_the_database_now_through_the_socket_proxy(stack, docker_engine):
    stack.create_user("bea")
    token = stack.sign_in("bea")
    desktop = stack.start_desktop(token)
    container = docker_engine.containers.get(desktop["container_id"])
    assert container.exec_run(["sh", "-c", "echo kept > /home/user/kept.txt"], user="user").exit_code == 0

    stack.compose("down", timeout=300)
    stack.compose.set(
        COMPOSE_PROFILES="proxy,socket-proxy",
        BROKER_DOCKER_HOST="tcp://socket-proxy:2375",
        BROKER_DOCKER_SOCKET="/dev/null",
    )
    stack.figures["down, then up again → ready"] = f"{up(stack):.1f} s"
    broker = docker_engine.containers.get(stack.compose.container("broker"))
    socket = next(m for m in broker.attrs["Mounts"] if m["Destination"] == "/var/run/docker.sock")
    assert socket["Source"] == "/dev/null"  # the broker holds no engine socket now

    token = stack.sign_in("bea")  # her account and password survived
    listed = stack.api("GET", "/api/container/list", token).json()
    assert [d["id"] for d in listed["desktops"]] == [desktop["id"]]  # the database too
    assert stack.api("POST", "/api/container/remove?desktop_type=base", token).status_code == 200
    again = stack.start_desktop(token)  # a new container, made through the socket proxy
    assert again["container_id"] != desktop["container_id"]
    kept = docker_engine.containers.get(again["container_id"]).exec_run(["cat", "/home/user/kept.txt"])
    assert kept.output.decode().strip() == "kept"


def test_the_file_manager_works_before_and_after_a_desktop_ran_through_the_socket_proxy(stack, docker_engine):
    through_the_socket_proxy(stack)  # its helper container (docs/admin.md "Files") passes the proxy too
    stack.create_user("cleo")
    token = stack.sign_in("cleo")
    before = os.urandom(3 * 2**20 + 5)
    assert download(stack, token, "home", upload(stack, token, "home", "vorher.bin", before)) == before

    desktop = stack.start_desktop(token)
    container = docker_engine.containers.get(desktop["container_id"])
    seen = container.exec_run(["stat", "-c", "%U:%G", "/home/user", "/home/user/vorher.bin"])
    assert seen.output.decode().split() == ["user:user", "user:user"]  # the desktop user's, home and file
    after = os.urandom(2**20 + 1)
    assert download(stack, token, "home", upload(stack, token, "home", "nachher.bin", after)) == after
    in_desktop = container.exec_run(["sha256sum", "/home/user/nachher.bin"], user="user").output.decode()
    assert in_desktop.split()[0] == hashlib.sha256(after).hexdigest()

    stack.create_user("ada", "--admin")
    admin = stack.sign_in("ada")
    sheet = os.urandom(2**20 + 2)
    assert download(stack, admin, "public", upload(stack, admin, "public", "Blatt.bin", sheet)) == sheet
    assert download(stack, token, "public", "Blatt.bin") == sheet  # everyone reads the public space
    refused = stack.api("POST", "/api/files/public/upload?path=", token, files={"files": ("x.txt", b"x")})
    assert refused.status_code == 403


def upload(stack: Stack, token: str, space: str, name: str, data: bytes) -> str:
    answer = stack.api("POST", f"/api/files/{space}/upload?path=", token, files={"files": (name, data)})
    assert answer.status_code == 201, answer.text
    return name


def download(stack: Stack, token: str, space: str, path: str) -> bytes:
    answer = stack.api("GET", f"/api/files/{space}/download", token, params={"path": path})
    assert answer.status_code == 200, answer.text
    return answer.content


def test_the_socket_proxy_refuses_what_the_broker_does_not_need(stack):
    through_the_socket_proxy(stack)
    probe = (Path(__file__).parent / "socket_probe.py").read_text()
    answers = json.loads(
        stack.compose(
            "exec", "-T", "broker", "python3", "-", "deskbroker/base:latest", stack.instance, input=probe
        ).stdout
    )
    allowed = {
        "ping",
        "list containers",
        "inspect a container",
        "list images",
        "create and remove a plain container",
        "connect and disconnect a network",
        "network guard in a container's network namespace",
    }
    assert {name for name, status in answers.items() if status == 200} == allowed, answers
    assert {status for name, status in answers.items() if name not in allowed} == {403}, answers


def test_the_backup_command_dumps_the_database(stack):
    dump = stack.compose(
        "exec",
        "-T",
        "postgres",
        "sh",
        "-c",
        "pg_dump -U postgres -Fc deskbroker > /tmp/db.dump && pg_restore --list /tmp/db.dump",
    )
    assert "TABLE DATA public users" in dump.stdout and "TABLE DATA public desktops" in dump.stdout


def test_logs_hold_no_secrets(stack):
    logs = stack.compose("logs", "--no-color").stdout
    assert "database is up to date" in logs
    for name in ("DESKBROKER_SECRET_KEY", "DESKBROKER_WEBSOCKIFY_KEY", "POSTGRES_PASSWORD"):
        assert stack.compose.setting(name) not in logs, name
    assert PASSWORD not in logs
