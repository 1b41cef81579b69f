"""A Swarm of three nodes: this machine as manager and two Docker-in-Docker workers
(tests/fixtures/swarm_nodes.py). The broker runs as in production, in the network namespace of a
container on the desktops' overlay; guacd and websockify as global services, one of each on every
node.

What a person and an admin would notice: desktops spread over all three nodes by the placement
settings, each held by its network rules whichever node runs it (loaded through that node's
engine, over mutual TLS), drawn through the guacd on its own node and reached by noVNC through
any node's websockify, each token once across all of them; a drained node's and a dead node's desktops are
shown stopped with the node named within 30 s, and start again on a node that is up, where the
person finds their files: the homes are on shared storage (a folder every node sees at the same
path, as an NFS mount would be). Start latency per node is a figure.
"""

from __future__ import annotations

import secrets
import statistics
import subprocess
import sys
import time

import pytest
import requests
from docker.types import EndpointSpec, ServiceMode
from sqlalchemy import select

from broker.desktops.provider import BROKER_LABEL
from broker.images.build import build_images
from broker.models import Connection, Desktop
from tests.desktops.test_isolation import probe
from tests.fixtures.desktops import desktop_overrides, lifecycle_of, sign_in, start_broker_in
from tests.fixtures.swarm_nodes import manager_address, swarm_workers
from tests.fixtures.tunnel_viewer import Viewer

pytestmark = [pytest.mark.reliability, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

DESKTOPS_PER_NODE = 2
NODE_LABEL = "deskbroker-test-desktops"
NOTICED_WITHIN = 30  # seconds: a lost node's desktops are shown stopped
WEBSOCKIFY_KEY = secrets.token_urlsafe(32)


def call(broker, person, method, path, **kwargs):
    return requests.request(
        method, broker.url + path, headers={"Authorization": f"Bearer {person.token}"}, timeout=120, **kwargs
    )


def drawn(broker, person, desktop_id: str) -> bool:
    token = call(broker, person, "post", f"/api/desktops/{desktop_id}/connect", json={}).json()["token"]
    viewer = Viewer(broker.url, token)
    try:
        return viewer.drawn()
    finally:
        viewer.close()


def guacd_of(app, desktop_id: str) -> str:
    """The guacd instance that held the desktop's latest tunnel (the connection log)."""
    with lifecycle_of(app).sessions() as db:
        return db.scalars(
            select(Connection.guacd_instance)
            .where(Connection.desktop_id == desktop_id)
            .order_by(Connection.started_at.desc())
            .limit(1)
        ).one()


def label_node(swarm, node_id: str, labels: dict[str, str]) -> None:
    node = swarm.api.inspect_node(node_id)
    spec = node["Spec"]
    spec["Labels"] = {**spec.get("Labels", {}), **labels}
    swarm.api.update_node(node_id, node["Version"]["Index"], spec)


def unlabel_node(swarm, node_id: str, label: str) -> None:
    node = swarm.api.inspect_node(node_id)
    spec = node["Spec"]
    spec["Labels"] = {name: value for name, value in spec.get("Labels", {}).items() if name != label}
    swarm.api.update_node(node_id, node["Version"]["Index"], spec)


def set_availability(swarm, node_id: str, availability: str) -> None:
    node = swarm.api.inspect_node(node_id)
    swarm.api.update_node(node_id, node["Version"]["Index"], {**node["Spec"], "Availability": availability})


def node_of(swarm, service_id: str) -> str:
    """The node of the service's newest task."""
    tasks = swarm.api.tasks(filters={"service": service_id})
    return max(tasks, key=lambda task: task["CreatedAt"])["NodeID"]


def task_container_on(engine, service_id: str):
    [container] = engine.containers.list(filters={"label": f"com.docker.swarm.service.id={service_id}"})
    return container


def in_home(container, command: str) -> str:
    """What `command` prints, run as the desktop user in their home."""
    code, output = container.exec_run(["sh", "-c", command], user="user", workdir="/home/user")
    assert code == 0, output
    return output.decode().strip()


def files_of(broker, person) -> set[str]:
    answer = call(broker, person, "get", "/api/files/home/list")
    assert answer.status_code == 200, answer.text
    return {entry["name"] for entry in answer.json()["entries"]}


def stopped_with_reason(broker, person, within: float) -> tuple[float, str]:
    """(seconds until the person's desktop is shown stopped, its reason)."""
    began = time.monotonic()
    while True:
        status = call(broker, person, "get", "/api/container/status").json()
        if status["state"] in ("stopped", "error"):
            return time.monotonic() - began, status.get("reason") or ""
        assert time.monotonic() - began < within, f"still {status['state']} after {within} s"
        time.sleep(0.5)


def tier_on_every_node(
    swarm, instance: str, network: str, constraint: str, part: str, env: dict[str, str] | None = None
) -> dict[str, str]:
    """guacd or websockify as a global service on the desktops' overlay, as production runs the tier
    on Swarm: {node id: its task's address}."""
    swarm.services.create(
        f"deskbroker/{part}:latest",
        name=f"{instance}-{part}",
        mode=ServiceMode("global"),
        networks=[network],
        constraints=[constraint],
        endpoint_spec=EndpointSpec(mode="dnsrr"),
        env=env,
        labels={BROKER_LABEL: instance},
    )
    deadline = time.monotonic() + 60
    while True:
        tasks = swarm.api.tasks(filters={"service": f"{instance}-{part}", "desired-state": "running"})
        running = [task for task in tasks if task["Status"]["State"] == "running"]
        if len(running) == 3:
            return {
                task["NodeID"]: attachment["Addresses"][0].split("/")[0]
                for task in running
                for attachment in task["NetworksAttachments"]
                if attachment["Network"]["Spec"]["Name"] == network
            }
        assert time.monotonic() < deadline, f"{part} runs on {len(running)} of 3 nodes: {tasks}"
        time.sleep(0.3)


# A noVNC viewer's first step, from the broker's network (the overlay): open the websocket as a
# page of the broker would and say what came back, the RFB greeting or why not.
NOVNC_OPEN = """
import sys, websocket
try:
    socket = websocket.create_connection(sys.argv[1], subprotocols=["binary"], timeout=10, origin=sys.argv[2])
    print(socket.recv().decode(errors="replace").strip())
except Exception as error:
    print(f"refused ({type(error).__name__})")
"""


def novnc_url(broker, person, desktop_id: str) -> str:
    answer = call(broker, person, "post", f"/api/desktops/{desktop_id}/connect", json={"protocol": "novnc"})
    assert answer.status_code == 200, answer.text
    return answer.json()["websockify_url"]


def novnc_greeting(holder, websockify: str, url: str, origin: str) -> str:
    """What a noVNC viewer reaching websockify at `websockify` with the broker's `url` gets first."""
    done = subprocess.run(
        [
            "nsenter",
            f"--net=/proc/{holder.attrs['State']['Pid']}/ns/net",
            "--",
            sys.executable,
            "-c",
            NOVNC_OPEN,
            f"ws://{websockify}:6080{url}",
            origin,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def three_nodes(swarm, instance, tmp_path, database_url, desktop_app):
    """(the test's app, the broker, {node id: engine}, workers, {"broker"/"guacd": overlay address},
    {node id: its guacd's address}, (the container whose network the broker uses, {node id: its
    websockify's address}))."""
    assert swarm.info()["Swarm"]["NodeAddr"] == manager_address(swarm), (
        "this machine's swarm advertises an address its Docker-in-Docker workers cannot reach: "
        f"leave it (docker swarm leave --force) so that the tests make one on {manager_address(swarm)}"
    )
    images = [
        "deskbroker/base:latest",
        "deskbroker/netguard:latest",
        "deskbroker/guacd:latest",
        "deskbroker/websockify:latest",
    ]
    build_images(swarm, ["guacd", "websockify"], progress=lambda _line: None)  # the tier (base, netguard: desktop_app)
    shared = tmp_path / "shared-storage"
    shared.mkdir()
    with swarm_workers(swarm, instance, tmp_path / "nodes", images, shared=shared) as (workers, client_tls):
        manager = swarm.info()["Swarm"]["NodeID"]
        for node in (manager, *(worker.node_id for worker in workers)):
            label_node(swarm, node, {NODE_LABEL: instance})
        overrides = desktop_overrides(
            instance,
            desktop_provider="swarm",
            swarm_constraints=f"node.labels.{NODE_LABEL}=={instance}",
            swarm_node_engine="tcp://{address}:2376",
            swarm_node_tls=str(client_tls),
            shared_volumes=str(shared),
            housekeeping_interval="2s",
            desktop_start_timeout="60s",
        )
        overlay = swarm.networks.create(
            overrides["desktop_network"],
            driver="overlay",
            attachable=True,
            internal=True,
            labels={BROKER_LABEL: instance},
        )
        holder = swarm.containers.run(
            "deskbroker/base:latest",
            entrypoint=["sleep", "infinity"],
            detach=True,
            name=f"{instance}-broker",
            network="bridge",  # where the tests reach it, and it reaches the workers' engines
            labels={BROKER_LABEL: instance},
        )
        try:
            overlay.connect(holder)
            holder.reload()
            networks = holder.attrs["NetworkSettings"]["Networks"]
            constraint = f"node.labels.{NODE_LABEL}=={instance}"
            guacd_on = tier_on_every_node(swarm, instance, overlay.name, constraint, "guacd")
            broker_url = f"http://{networks['bridge']['IPAddress']}:8080"
            websockify_on = tier_on_every_node(
                swarm,
                instance,
                overlay.name,
                constraint,
                "websockify",
                env={
                    "VNC_TOKEN_KEY": WEBSOCKIFY_KEY,
                    "ALLOWED_ORIGINS": broker_url,
                    "DESKBROKER_URL": f"http://{networks[overlay.name]['IPAddress']}:8080",
                },
            )
            app = desktop_app(desktop_provider="swarm")
            broker = start_broker_in(
                holder,
                networks["bridge"]["IPAddress"],
                tmp_path,
                database_url,
                guacd_hosts=",".join(guacd_on.values()),
                websockify_key=WEBSOCKIFY_KEY,
                **overrides,
            )
            engines = {manager: swarm, **{worker.node_id: worker.engine for worker in workers}}
            tier = {"broker": f"{networks[overlay.name]['IPAddress']}:8080", "guacd": f"{guacd_on[manager]}:4822"}
            try:
                yield app, broker, engines, workers, tier, guacd_on, (holder, websockify_on)
            finally:
                broker.stop()
                for service in swarm.services.list(filters={"label": f"{BROKER_LABEL}={instance}"}):
                    service.remove()
        finally:
            holder.remove(force=True)
            unlabel_node(swarm, manager, NODE_LABEL)


def test_desktops_spread_over_three_nodes_are_held_everywhere_and_move_when_a_node_goes(three_nodes, swarm, figures):
    app, broker, engines, workers, tier, guacd_on, (holder, websockify_on) = three_nodes
    manager = swarm.info()["Swarm"]["NodeID"]
    people = [sign_in(app, f"pupil{number}") for number in range(len(engines) * DESKTOPS_PER_NODE)]

    # A class starts: Swarm spreads the desktops over the three nodes.
    placed: dict[str, tuple[object, dict]] = {}  # username -> (person, desktop)
    latency: dict[str, list[float]] = {node: [] for node in engines}
    for person in people:
        began = time.monotonic()
        answer = call(broker, person, "post", "/api/container/start?desktop_type=base")
        took = time.monotonic() - began
        assert answer.status_code == 200, answer.text + broker.output()[-3000:]
        desktop = answer.json()
        assert desktop["state"] == "running"
        latency[node_of(swarm, desktop["container_id"])].append(took)
        placed[person.username] = (person, desktop)
    counts = {node: len(times) for node, times in latency.items()}
    assert all(counts.values()), f"a node got no desktop: {counts}"
    names = {manager: "manager", **{worker.node_id: worker.hostname.rsplit("-", 1)[1] for worker in workers}}
    for node, times in latency.items():
        figures.record(
            f"swarm of 3: start → running on {names[node]} (median of {len(times)})",
            f"{statistics.median(times):.2f} s",
            "recorded",
            True,
        )

    # Held wherever it runs: from a desktop on each node, neither the broker, guacd, the other
    # desktops nor its node's engine answer; and guacd draws every one of them.
    with lifecycle_of(app).sessions() as db:
        addresses = {username: db.get(Desktop, desktop["id"]).address for username, (_p, desktop) in placed.items()}
    for username, (person, desktop) in placed.items():
        node = node_of(swarm, desktop["container_id"])
        container = task_container_on(engines[node], desktop["container_id"])
        others = {f"desktop-{name}": f"{address}:5901" for name, address in addresses.items() if name != username}
        node_address = swarm.api.inspect_node(node)["Status"]["Addr"]
        seen = probe(container, {**others, **tier, "engine": f"{node_address}:2376"})
        assert set(seen.values()) == {"closed"}, (names[node], seen)
        assert in_home(container, f"echo {username} > ~/mine.txt") == ""
        assert drawn(broker, person, desktop["id"]), (names[node], username)
        assert guacd_of(app, desktop["id"]) == f"{guacd_on[node]}:4822", names[node]  # the node's own guacd

    # noVNC: any node's websockify reaches any node's desktop through the overlay; a token, used
    # once through one of them, is refused by the others (the broker redeems it, not websockify).
    nodes = list(engines)
    for person, desktop in [placed[p.username] for p in people[::DESKTOPS_PER_NODE]]:
        node = node_of(swarm, desktop["container_id"])
        elsewhere = [websockify_on[other] for other in nodes if other != node]
        url = novnc_url(broker, person, desktop["id"])
        assert novnc_greeting(holder, elsewhere[0], url, broker.url) == "RFB 003.008", names[node]
        assert novnc_greeting(holder, elsewhere[1], url, broker.url).startswith("refused"), names[node]
        fresh = novnc_url(broker, person, desktop["id"])  # that websockify was refusing the replay only
        assert novnc_greeting(holder, elsewhere[1], fresh, broker.url) == "RFB 003.008", names[node]

    # A worker drained: its desktops are shown stopped, the node named; started again, elsewhere.
    drained = workers[0]
    set_availability(swarm, drained.node_id, "drain")
    moved = [(p, d) for p, d in placed.values() if node_of(swarm, d["container_id"]) == drained.node_id]
    for person, desktop in moved:
        took, reason = stopped_with_reason(broker, person, NOTICED_WITHIN)
        assert drained.hostname in reason and "drained" in reason, reason
        figures.record("swarm: a drained node's desktop shown stopped", f"{took:.1f} s", f"< {NOTICED_WITHIN} s", True)
        again = call(broker, person, "post", "/api/container/start?desktop_type=base")
        assert again.status_code == 200 and again.json()["state"] == "running", again.text
        now_on = node_of(swarm, desktop["container_id"])
        assert now_on != drained.node_id
        assert in_home(task_container_on(engines[now_on], desktop["container_id"]), "cat ~/mine.txt") == person.username
        assert "mine.txt" in files_of(broker, person)  # the file manager, on the manager, sees them too
        assert drawn(broker, person, desktop["id"])
        assert guacd_of(app, desktop["id"]) == f"{guacd_on[now_on]}:4822"

    # A worker dies (its engine killed, no goodbye): the same, once the managers mark it down.
    dead = workers[1]
    lost = [(p, d) for p, d in placed.values() if node_of(swarm, d["container_id"]) == dead.node_id]
    assert lost, "the second worker runs no desktop"
    dead.container.kill()
    killed = time.monotonic()
    for person, desktop in lost:
        _took, reason = stopped_with_reason(broker, person, NOTICED_WITHIN)
        took = time.monotonic() - killed
        assert took < NOTICED_WITHIN and dead.hostname in reason and "down" in reason, (took, reason)
        figures.record("swarm: a dead node's desktop shown stopped", f"{took:.1f} s", f"< {NOTICED_WITHIN} s", True)
        again = call(broker, person, "post", "/api/container/start?desktop_type=base")
        assert again.status_code == 200 and again.json()["state"] == "running", again.text
        assert node_of(swarm, desktop["container_id"]) == manager
        assert in_home(task_container_on(swarm, desktop["container_id"]), "cat ~/mine.txt") == person.username
        assert drawn(broker, person, desktop["id"])
        assert guacd_of(app, desktop["id"]) == f"{guacd_on[manager]}:4822"
    set_availability(swarm, drained.node_id, "active")
