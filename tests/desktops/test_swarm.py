"""Desktops as services on a real single-node Docker Swarm, on an overlay network.

The broker runs as in production: `broker serve` in the network namespace of a container that
is on the desktops' overlay network (the host cannot reach overlay addresses), and on a bridge
through which the tests talk to it.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from docker.errors import NotFound
from sqlalchemy import select

from broker import crypto
from broker.desktops.docker import CAPABILITIES
from broker.desktops.naming import home_volume_name
from broker.desktops.provider import BROKER_LABEL
from broker.desktops.swarm import ADMITTED_LABEL
from broker.models import AuditEvent, Desktop, DesktopType
from tests.fixtures.broker import SECRET
from tests.fixtures.desktops import desktop_overrides, lifecycle_of, sign_in, start_broker_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def on_overlay(swarm, instance, tmp_path, database_url, desktop_app):
    """(app for the tests' own database work, a function starting `broker serve` on the overlay)."""
    overrides = desktop_overrides(instance, desktop_provider="swarm")
    overlay = swarm.networks.create(
        overrides["desktop_network"], driver="overlay", attachable=True, internal=True, labels={BROKER_LABEL: instance}
    )
    access = swarm.networks.create(f"{instance}-access", driver="bridge", labels={BROKER_LABEL: instance})
    holder = swarm.containers.run(
        "deskbroker/base:latest",
        entrypoint=["sleep", "infinity"],
        detach=True,
        name=f"{instance}-broker",
        network=access.name,
        labels={BROKER_LABEL: instance},
    )
    overlay.connect(holder)
    holder.reload()
    address = holder.attrs["NetworkSettings"]["Networks"][access.name]["IPAddress"]
    started = []

    def start_broker(**more: str):
        started.append(start_broker_in(holder, address, tmp_path, database_url, **overrides, **more))
        return started[-1]

    yield desktop_app(desktop_provider="swarm"), start_broker, holder
    for broker in started:
        broker.stop()


def call(broker, person, method, path):
    return requests.request(method, broker.url + path, headers={"Authorization": f"Bearer {person.token}"}, timeout=90)


def task_container(swarm, service_id):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        running = swarm.containers.list(
            filters={"label": f"com.docker.swarm.service.id={service_id}"}, ignore_removed=True
        )
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError(f"no running container for service {service_id}")


def in_home(container, command: str) -> str:
    exit_code, output = container.exec_run(["sh", "-c", command], user="user")
    assert exit_code == 0, output
    return output.decode().strip()


def test_a_desktop_service_lives_starts_again_with_its_home_and_survives_a_broker_restart(on_overlay, swarm, instance):
    app, start_broker, holder = on_overlay
    broker = start_broker()
    anna = sign_in(app, "anna")
    answer = call(broker, anna, "post", "/api/container/start?desktop_type=base")
    assert answer.status_code == 200, answer.text + broker.output()
    desktop = answer.json()
    assert desktop["state"] == "running"
    service = swarm.api.inspect_service(desktop["container_id"])

    # Locked down, nothing published, limits and reservations from the type, the password as a secret.
    spec = service["Spec"]
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"} and not service["Endpoint"].get("Ports")
    task = spec["TaskTemplate"]
    assert task["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    assert sorted(task["ContainerSpec"]["CapabilityAdd"]) == sorted(CAPABILITIES)
    assert task["Resources"]["Limits"] == {"NanoCPUs": 10**9, "MemoryBytes": 2**30, "Pids": 1024}
    assert task["Resources"]["Reservations"]["MemoryBytes"] == 2**28
    assert [s["File"]["Name"] for s in task["ContainerSpec"]["Secrets"]] == ["vnc-password"]
    container = task_container(swarm, service["ID"])
    assert not container.attrs["HostConfig"]["PortBindings"]
    with lifecycle_of(app).sessions() as db:
        stored = db.get(Desktop, desktop["id"])
    password = crypto.decrypt(SECRET, stored.vnc_password_encrypted)
    assert password not in str(service) and password not in str(container.attrs)
    # Only a process on the overlay network can reach the desktop; the password logs in there.
    login = f"from broker.rfb import RFBClient; RFBClient({stored.address!r}, 5901, {password!r}).close()"
    subprocess.run(
        ["nsenter", f"--net=/proc/{holder.attrs['State']['Pid']}/ns/net", "--", sys.executable, "-c", login],
        check=True,
        timeout=30,
    )
    in_home(container, "echo kept > ~/notes.txt")
    # The file manager reaches the same home on the swarm's node; the public files are mounted read-only.
    assert [(m["Target"], m.get("ReadOnly", False)) for m in task["ContainerSpec"]["Mounts"]] == [
        ("/home/user", False),
        ("/srv/public", True),
    ]
    assert call(broker, anna, "get", "/api/files/home/download?path=notes.txt").text == "kept\n"
    uploaded = requests.post(
        broker.url + "/api/files/home/upload",
        files={"files": ("up.txt", b"uploaded")},
        headers={"Authorization": f"Bearer {anna.token}"},
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert in_home(container, "stat -c %U ~/up.txt && cat ~/up.txt") == "user\nuploaded"

    broker.stop()
    broker = start_broker()  # a restart: the running desktop is adopted as it is
    status = call(broker, anna, "get", "/api/container/status").json()
    assert (status["state"], status["container_id"]) == ("running", desktop["container_id"])
    assert call(broker, anna, "post", "/api/container/start?desktop_type=base").json()["id"] == desktop["id"]
    assert len(swarm.services.list(filters={"label": f"{BROKER_LABEL}={instance}"})) == 1

    assert call(broker, anna, "post", "/api/container/stop").json()["state"] == "stopped"
    assert swarm.api.inspect_service(desktop["container_id"])["Spec"]["Mode"]["Replicated"]["Replicas"] == 0
    assert swarm.containers.list(filters={"label": f"com.docker.swarm.service.id={service['ID']}"}) == []

    again = call(broker, anna, "post", "/api/container/start?desktop_type=base").json()
    assert (again["state"], again["container_id"]) == ("running", desktop["container_id"])
    assert in_home(task_container(swarm, service["ID"]), "cat ~/notes.txt") == "kept"

    assert call(broker, anna, "post", "/api/container/remove").json() == {"removed": desktop["id"]}
    with pytest.raises(NotFound):
        swarm.api.inspect_service(service["ID"])
    assert swarm.secrets.list(filters={"label": f"{BROKER_LABEL}={instance}"}) == []
    swarm.volumes.get(home_volume_name(instance, "local:anna"))  # the home is kept


def test_a_missing_image_on_swarm_fails_clearly_and_leaves_no_service(on_overlay, swarm, instance):
    app, start_broker, _holder = on_overlay
    with lifecycle_of(app).sessions() as db:
        db.add(DesktopType(id="ghost", image="deskbroker/does-not-exist:latest", title_en="Ghost", title_de="Geist"))
        db.commit()
    broker = start_broker()
    anna = sign_in(app, "anna")
    answer = call(broker, anna, "post", "/api/container/start?desktop_type=ghost")
    assert answer.status_code == 502 and "does-not-exist" in answer.json()["message"], answer.text
    assert swarm.services.list(filters={"label": f"{BROKER_LABEL}={instance}"}) == []
    assert swarm.secrets.list(filters={"label": f"{BROKER_LABEL}={instance}"}) == []


def test_a_task_started_outside_the_broker_is_stopped_never_adopted(on_overlay, swarm, instance):
    """`docker service update --force` by hand: Swarm starts a new task on the overlay, without the
    rules the broker loads. Housekeeping stops it and shows the desktop stopped, saying why, and
    audits it; the person's next start is an admitted one again."""
    app, start_broker, _holder = on_overlay
    broker = start_broker(housekeeping_interval="2s")
    anna = sign_in(app, "anna")
    desktop = call(broker, anna, "post", "/api/container/start?desktop_type=base").json()
    assert desktop["state"] == "running", desktop
    admitted = task_container(swarm, desktop["container_id"]).id
    service = swarm.api.inspect_service(desktop["container_id"])
    assert service["Spec"]["Labels"][ADMITTED_LABEL] == admitted

    force = service["Spec"]["TaskTemplate"].get("ForceUpdate", 0) + 1
    swarm.api.update_service(
        service["ID"], service["Version"]["Index"], fetch_current_spec=True, task_template={"ForceUpdate": force}
    )
    # (While Swarm swaps the tasks the desktop may show "ended by itself" for a moment.)
    deadline = time.monotonic() + 30
    while "outside deskbroker" not in (status := call(broker, anna, "get", "/api/container/status").json())["reason"]:
        assert time.monotonic() < deadline, f"the stray task was not found: {status}"
        time.sleep(0.5)
    assert status["state"] == "stopped" and "network rules" in status["reason"], status
    assert swarm.api.inspect_service(service["ID"])["Spec"]["Mode"]["Replicated"]["Replicas"] == 0
    assert swarm.containers.list(filters={"label": f"com.docker.swarm.service.id={service['ID']}"}) == []
    with lifecycle_of(app).sessions() as db:
        [entry] = db.scalars(select(AuditEvent).where(AuditEvent.action == "desktop_stray_stopped")).all()
        assert entry.target == desktop["id"]

    again = call(broker, anna, "post", "/api/container/start?desktop_type=base").json()
    assert (again["state"], again["container_id"]) == ("running", desktop["container_id"])
    now = task_container(swarm, service["ID"]).id
    assert now != admitted and swarm.api.inspect_service(service["ID"])["Spec"]["Labels"][ADMITTED_LABEL] == now
    time.sleep(4)  # two housekeeping rounds: the admitted task is left running
    assert call(broker, anna, "get", "/api/container/status").json()["state"] == "running"
