"""Desktops through the HTTP API on the real Docker engine with the real images."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import select

from broker import crypto
from broker.desktops.docker import CAPABILITIES
from broker.desktops.naming import desktop_name, home_volume_name
from broker.desktops.provider import BROKER_LABEL, DESKTOP_LABEL, OWNER_ID_LABEL, OWNER_LABEL, TYPE_LABEL
from broker.models import Desktop, DesktopType
from broker.rfb import AuthenticationFailed, RFBClient
from tests.fixtures.broker import SECRET
from tests.fixtures.desktops import containers_of, lifecycle_of, sign_in

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def row(app, desktop_id: str) -> Desktop:
    with lifecycle_of(app).sessions() as db:
        return db.get(Desktop, desktop_id)


def home_file(docker_engine, container_id: str, command: str) -> str:
    exit_code, output = docker_engine.containers.get(container_id).exec_run(["sh", "-c", command], user="user")
    assert exit_code == 0, output
    return output.decode().strip()


def test_start_stop_start_remove_and_the_home_survives(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna = sign_in(app, "anna.müller")
    started = anna.call("post", "/api/container/start?desktop_type=base")
    assert started.status_code == 200, started.get_json()
    desktop = started.get_json()
    assert desktop["state"] == "running" and desktop["owner"] == "anna.müller" and desktop["desktop_type"] == "base"

    # Running means the VNC server answers; the stored password (only the broker can read it) logs in.
    stored = row(app, desktop["id"])
    with RFBClient(stored.address, 5901, crypto.decrypt(SECRET, stored.vnc_password_encrypted)) as session:
        assert session.width > 0
    home_file(docker_engine, desktop["container_id"], "echo kept > ~/notes.txt")

    stopped = anna.call("post", "/api/container/stop")
    assert stopped.status_code == 200 and stopped.get_json()["state"] == "stopped"
    kept = docker_engine.containers.get(desktop["container_id"])
    assert kept.status == "exited" and kept.attrs["State"]["ExitCode"] == 0  # a clean stop, capabilities or not
    assert anna.call("get", "/api/container/status").get_json()["state"] == "stopped"

    again = anna.call("post", "/api/container/start", json={"desktop_type": "base"}).get_json()
    assert again["state"] == "running"
    assert (again["id"], again["container_id"]) == (desktop["id"], desktop["container_id"])  # a start, no create
    assert home_file(docker_engine, again["container_id"], "cat ~/notes.txt") == "kept"

    assert anna.call("post", "/api/container/remove").get_json() == {"removed": desktop["id"]}
    assert containers_of(docker_engine, instance) == []
    assert anna.call("get", "/api/container/status").status_code == 404
    with lifecycle_of(app).sessions() as db:
        assert db.scalars(select(Desktop)).all() == []
    home = docker_engine.volumes.get(home_volume_name(instance, "local:anna.müller"))  # kept after the removal
    assert home.attrs["Labels"][OWNER_LABEL] == "anna.müller"

    fresh = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert fresh["id"] != desktop["id"] and fresh["container_id"] != desktop["container_id"]
    assert home_file(docker_engine, fresh["container_id"], "cat ~/notes.txt") == "kept"


@sqlite_only
def test_a_desktop_is_locked_down_and_publishes_no_port(desktop_app, docker_engine, instance, caplog):
    app = desktop_app()
    ben = sign_in(app, "ben")
    desktop = ben.call("post", "/api/container/start?desktop_type=xfce").get_json()
    assert desktop["state"] == "running", desktop
    stored = row(app, desktop["id"])
    password = crypto.decrypt(SECRET, stored.vnc_password_encrypted)
    attrs = docker_engine.api.inspect_container(desktop["container_id"])
    host = attrs["HostConfig"]

    assert not host["PortBindings"] and not host["PublishAllPorts"]
    assert all(binding is None for binding in attrs["NetworkSettings"]["Ports"].values())
    network = f"{instance}-desktops"
    assert list(attrs["NetworkSettings"]["Networks"]) == [network]
    assert docker_engine.api.inspect_network(network)["Internal"] is True
    assert host["CapDrop"] == ["ALL"] and sorted(host["CapAdd"]) == sorted(CAPABILITIES)
    assert "no-new-privileges" in host["SecurityOpt"]
    # The type's limits: the model's defaults, as the catalog made the type.
    assert host["Memory"] == host["MemorySwap"] == 1024 * 2**20
    assert host["NanoCpus"] == 10**9 and host["PidsLimit"] == 1024
    assert sorted((m["Type"], m["Destination"], m["RW"]) for m in attrs["Mounts"]) == [
        ("volume", "/home/user", True),
        ("volume", "/srv/public", False),
    ]  # the public files, read-only
    labels = attrs["Config"]["Labels"]
    assert {labels[BROKER_LABEL], labels[DESKTOP_LABEL], labels[TYPE_LABEL], labels[OWNER_LABEL]} == {
        instance,
        desktop["id"],
        "xfce",
        "ben",
    } and labels[OWNER_ID_LABEL] == "local:ben"

    # The password is in no label, no environment variable, nothing `docker inspect` shows, no log.
    assert password not in str(attrs) and password not in caplog.text
    with pytest.raises(AuthenticationFailed):
        RFBClient(stored.address, 5901, "wrong-pw").close()
    with RFBClient(stored.address, 5901, password):
        pass
    # The desktop's user cannot read the password file either.
    exit_code, _ = docker_engine.containers.get(desktop["container_id"]).exec_run(
        ["cat", "/run/secrets/vnc-password"], user="user"
    )
    assert exit_code != 0


@sqlite_only
def test_nobody_sees_stops_or_removes_another_persons_desktop(desktop_app, docker_engine, instance):
    app = desktop_app(desktops_per_user="2")
    anna, ben = sign_in(app, "anna"), sign_in(app, "ben")
    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert desktop["state"] == "running"

    assert ben.call("get", "/api/container/list").get_json()["desktops"] == []
    for method, path in [
        ("get", "/api/container/status"),
        ("post", "/api/container/stop"),
        ("post", "/api/container/remove"),
    ]:
        for query in ("", "?desktop_type=base"):
            answer = ben.call(method, path + query)
            assert answer.status_code == 404 and answer.get_json()["error"] == "no_desktop", (path, query)
    for ident in (desktop["id"], desktop["container_id"]):
        for method, path in [
            ("post", f"/api/admin/container/{ident}/stop"),
            ("delete", f"/api/admin/container/{ident}/remove"),
        ]:
            assert ben.call(method, path).status_code == 403
    assert ben.call("get", "/api/admin/containers").status_code == 403
    assert ben.call("post", "/api/admin/containers/stop-all").status_code == 403

    # Ben's own start makes his own desktop and leaves Anna's alone.
    own = ben.call("post", "/api/container/start?desktop_type=base").get_json()
    assert own["id"] != desktop["id"] and own["container_id"] != desktop["container_id"]
    assert docker_engine.containers.get(desktop["container_id"]).status == "running"
    assert anna.call("get", "/api/container/status").get_json()["state"] == "running"
    assert [d["id"] for d in anna.call("get", "/api/container/list").get_json()["desktops"]] == [desktop["id"]]


@sqlite_only
def test_admins_see_and_end_everyones_desktops(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna, ben, root = sign_in(app, "anna"), sign_in(app, "ben"), sign_in(app, "root", ("admin",))
    first = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    second = ben.call("post", "/api/container/start?desktop_type=base").get_json()
    listed = root.call("get", "/api/admin/containers").get_json()["desktops"]
    assert {(d["owner"], d["state"]) for d in listed} == {("anna", "running"), ("ben", "running")}

    by_container = root.call("post", f"/api/admin/container/{first['container_id']}/stop").get_json()
    assert by_container["state"] == "stopped" and by_container["reason"] == "Stopped by an administrator."
    assert root.call("post", "/api/admin/containers/stop-all").get_json() == {"stopped": 1, "problems": []}
    assert anna.call("get", "/api/container/status").get_json()["state"] == "stopped"
    assert root.call("delete", f"/api/admin/container/{second['id']}/remove").get_json() == {"removed": second["id"]}
    assert [c.id for c in containers_of(docker_engine, instance)] == [first["container_id"]]
    assert root.call("post", "/api/admin/container/nothing/stop").status_code == 404


@sqlite_only
def test_quotas_refuse_with_a_clear_message(desktop_app, instance):
    app = desktop_app(desktops_per_user="1", desktops_total="2")
    anna, ben, cleo = sign_in(app, "anna"), sign_in(app, "ben"), sign_in(app, "cleo")
    with lifecycle_of(app).sessions() as db:
        db.get(DesktopType, "base").max_running = 1
        db.commit()
    assert anna.call("post", "/api/container/start?desktop_type=base").get_json()["state"] == "running"

    second = anna.call("post", "/api/container/start?desktop_type=xfce")
    assert second.status_code == 409 and second.get_json()["error"] == "quota_exceeded"
    assert "one person may run 1 at a time" in second.get_json()["message"]
    per_type = ben.call("post", "/api/container/start?desktop_type=base")
    assert (
        per_type.status_code == 409
        and "desktops of the type 'Minimal desktop' are in use" in per_type.get_json()["message"]
    )
    assert ben.call("post", "/api/container/start?desktop_type=xfce").get_json()["state"] == "running"
    total = cleo.call("post", "/api/container/start?desktop_type=xfce")
    assert total.status_code == 409 and "All 2 desktops this server may run are in use" in total.get_json()["message"]
    # Refused starts leave nothing behind; a stop frees the place.
    assert anna.call("get", "/api/container/status?desktop_type=xfce").status_code == 404
    assert anna.call("post", "/api/container/stop").get_json()["state"] == "stopped"
    assert cleo.call("post", "/api/container/start?desktop_type=base").get_json()["state"] == "running"


def test_concurrent_starts_of_one_desktop_make_one_container(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna = sign_in(app, "anna")
    answers: list = []

    def start():
        client = app.test_client()
        answers.append(
            client.post("/api/container/start?desktop_type=base", headers={"Authorization": f"Bearer {anna.token}"})
        )

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bodies = [answer.get_json() for answer in answers]
    assert [answer.status_code for answer in answers] == [200] * 6, bodies
    assert {(body["id"], body["container_id"], body["state"]) for body in bodies} == {
        (bodies[0]["id"], bodies[0]["container_id"], "running")
    }
    assert [c.id for c in containers_of(docker_engine, instance)] == [bodies[0]["container_id"]]


@sqlite_only
def test_a_desktop_closed_from_inside_starts_again(desktop_app, docker_engine, instance):
    app = desktop_app()
    anna = sign_in(app, "anna")
    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    docker_engine.containers.get(desktop["container_id"]).stop()  # as when the session is logged out of
    again = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert again.get("state") == "running" and again["container_id"] == desktop["container_id"], again


@sqlite_only
def test_a_name_taken_on_the_engine_is_taken_over_replaced_or_refused(desktop_app, docker_engine, instance):
    app = desktop_app()
    lifecycle = lifecycle_of(app)
    anna = sign_in(app, "anna")
    first = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    name = desktop_name(instance, "anna", "local:anna", "base")
    assert docker_engine.containers.get(first["container_id"]).name == name
    with lifecycle.sessions() as db:
        spec = lifecycle.spec(db.get(Desktop, first["id"]))

    # A start cut short after the container was made but before it was recorded: the container is taken over.
    with lifecycle.sessions() as db:
        desktop = db.get(Desktop, first["id"])
        desktop.state, desktop.container_id = "error", None
        db.commit()
    taken_over = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert (taken_over["id"], taken_over["container_id"]) == (first["id"], first["container_id"])

    # Left behind by a desktop removed earlier: replaced.
    assert anna.call("post", "/api/container/remove").status_code == 200
    stale = lifecycle.provider.create(replace(spec, desktop_id="removed-long-ago"))
    replaced = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert replaced["state"] == "running" and replaced["container_id"] != stale
    assert [c.id for c in containers_of(docker_engine, instance)] == [replaced["container_id"]]

    # Something else of that name: refused, and left alone.
    anna.call("post", "/api/container/remove")
    foreign = docker_engine.containers.create("deskbroker/base:latest", name=name)
    try:
        refused = anna.call("post", "/api/container/start?desktop_type=base")
        assert refused.status_code == 502 and "deskbroker did not make" in refused.get_json()["message"]
        docker_engine.containers.get(foreign.id)
    finally:
        foreign.remove(force=True)
