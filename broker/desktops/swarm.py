"""Desktops as Docker Swarm services, for installs that outgrow one host.

Each desktop is a one-replica service; stopped means scaled to zero. Swarm keeps no stopped
container, so a start after a stop is a new task (container) on the same home volume. The
password travels as a Swarm secret, the desktops share an attachable overlay network with the
broker, guacd and websockify, and no port is published (endpoint mode dnsrr: not even a VIP).

Isolation (isolation.py): Swarm starts a task on its networks at once (a task container cannot
be connected to an overlay later without the engine handing out addresses twice), so the rules
are loaded as soon as its container runs, a fraction of a second after the start and before it
counts as running, and every connection it opened meanwhile is then cut (its connection tracking
is flushed). They are loaded through the engine of the node that runs the task: this broker's
own, or another node's over TLS (SWARM_NODE_ENGINE, SWARM_NODE_TLS), found by the node's address
in the swarm. Without that setting a desktop placed on another node fails to start (closed, not
open).

A node that goes down takes its desktops with it: they count as stopped, with the node named,
as soon as the managers mark it down; the next start places a new task on a node that is up.

Only a task whose rules this broker loaded counts as running: the service is labelled with its
container (ADMITTED_LABEL). A task Swarm started otherwise (`docker service scale` or `update
--force` by hand, a reconcile) runs without rules, so it is a stray: housekeeping stops it and
shows the desktop stopped, saying why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.tls import TLSConfig
from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    Resources,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    TaskTemplate,
)

from broker.config import DesktopSettings
from broker.desktops.docker import API_TIMEOUT, CAPABILITIES, DockerProvider, engine_errors
from broker.desktops.provider import (
    BROKER_LABEL,
    DESKTOP_LABEL,
    PASSWORD_FILE,
    STOP_TIMEOUT,
    ContainerState,
    DesktopSpec,
    IsolationFailed,
    NameTaken,
    Vanished,
)
from broker.engine import EngineUnavailable

log = logging.getLogger(__name__)

ADMITTED_LABEL = "io.deskbroker.admitted"  # on a desktop's service: the task container its rules are in
RUNNING_TASK = ("starting", "running")  # "starting": the container runs, its health check has not passed yet
ENDED_TASK = ("complete", "shutdown", "failed", "rejected", "orphaned", "remove")
# A quarter of the memory limit, about what a desktop idles at: Swarm spreads desktops over
# the nodes by it without refusing them long before memory really runs out.
RESERVED_SHARE = 4
SETTLE_TIMEOUT = STOP_TIMEOUT + 20
NODE_MAP_SECONDS = 10.0  # how long which task address runs on which node is trusted
NODE_MAP_MISS_SECONDS = 0.2  # ... for an address it has not seen (a desktop started just now)
API_VERSION = "1.41"  # Docker 20.10, the oldest engine the provider supports (process limits per task)


class SwarmProvider(DockerProvider):
    def __init__(self, settings: DesktopSettings):
        super().__init__(settings)
        self.constraints = list(settings.swarm_constraints)
        self.placement_timeout = settings.desktop_start_timeout
        self.node_engine = settings.swarm_node_engine
        self.node_tls = settings.swarm_node_tls
        self._engines: dict[str, docker.DockerClient] = {}
        self._engines_lock = threading.Lock()
        self._own_node: str | None = None
        self._node_map: dict[str, str] = {}  # address on the desktop network -> node id
        self._node_map_at = float("-inf")
        self._looked_for: set[str] = set()  # addresses missing from the map since it was read

    def network_options(self, internal: bool) -> dict:
        return {"driver": "overlay", "attachable": True, "scope": "swarm", "internal": internal}

    def create(self, spec: DesktopSpec) -> str:
        with engine_errors():
            self.ensure_network()
            labels = spec.labels(self.instance)
            secret = self.client.secrets.create(
                name=f"{spec.name[:50]}-{secrets.token_hex(4)}", data=spec.vnc_password, labels=labels
            )
            try:
                ref = self.client.api.create_service(
                    self._task(spec, secret.id, secret.name),
                    name=spec.name,
                    labels=labels,
                    mode=ServiceMode("replicated", 1),
                    endpoint_spec=EndpointSpec(mode="dnsrr"),
                )["ID"]
            except BaseException as error:
                secret.remove()
                if isinstance(error, APIError) and error.status_code == 409:
                    raise NameTaken(self.find(spec.name)) from error
                raise
            try:
                self._admit(ref)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.remove(ref)
                raise
            return ref

    def _task(self, spec: DesktopSpec, secret_id: str, secret_name: str) -> TaskTemplate:
        mounts = self.volume_mounts(spec)
        if spec.shm_size_mb:
            mounts.append(Mount("/dev/shm", None, type="tmpfs", tmpfs_size=spec.shm_size_mb * 2**20))
        container = ContainerSpec(
            spec.image,
            labels=spec.labels(self.instance),
            env=self.environment(spec),
            mounts=mounts,
            cap_drop=["ALL"],
            cap_add=CAPABILITIES,
            stop_grace_period=STOP_TIMEOUT * 10**9,
            secrets=[
                SecretReference(
                    secret_id, secret_name, filename=PASSWORD_FILE.rsplit("/", 1)[1], uid="0", gid="0", mode=0o400
                )
            ],
        )
        memory = spec.memory_mb * 2**20
        resources = Resources(
            cpu_limit=int(spec.cpus * 1e9), mem_limit=memory, mem_reservation=memory // RESERVED_SHARE
        )
        resources["Limits"]["Pids"] = spec.pids_limit  # API 1.41; the SDK has no argument for it
        return TaskTemplate(
            container,
            resources=resources,
            restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=self.constraints) if self.constraints else None,
            networks=[NetworkAttachmentConfig(network) for network in self.networks_for(spec.egress)],
        )

    def start(self, ref: str) -> None:
        self._scale(ref, 1)
        with engine_errors():
            try:
                self._admit(ref)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._scale(ref, 0)
                raise

    def _admit(self, ref: str) -> None:
        """Wait for the new task's container, load its rules and cut what it opened before them; then
        note the container on the service: the one task that counts as running."""
        node, container = self._task_container(ref)
        service = self.client.api.inspect_service(ref)
        labels = service["Spec"].get("Labels") or {}
        self.isolate(container, self.policy(labels), flush=True, api=self._engine_of(node).api)
        spec = {**service["Spec"], "Labels": {**labels, ADMITTED_LABEL: container}}
        # The spec as it is, labels aside: then Swarm starts no new task. (docker-py's update_service
        # fills in the task's defaults, which Swarm takes for a change of the task.)
        api = self.client.api
        api._raise_for_status(
            api._post_json(
                api._url("/services/{0}/update", ref), data=spec, params={"version": service["Version"]["Index"]}
            )
        )

    def _exec_target(self, ref: str) -> tuple[docker.APIClient, str]:
        """The engine of the node that runs the service's task, and the task's container."""
        node, container = self._task_container(ref)
        return self._engine_of(node).api, container

    def _task_container(self, ref: str) -> tuple[str, str]:
        """(node id, container id) of the running container of the service's current task."""
        deadline = time.monotonic() + self.placement_timeout
        while time.monotonic() < deadline:
            service = self.client.api.inspect_service(ref)
            generation = service["Spec"]["TaskTemplate"].get("ForceUpdate", 0)
            tasks = [
                task
                for task in self.client.api.tasks(filters={"service": ref})
                if task["Spec"].get("ForceUpdate", 0) == generation
            ]
            task = max(tasks, key=lambda t: t["CreatedAt"], default=None)
            status = task["Status"] if task else {}
            if status.get("State") in ENDED_TASK:
                raise IsolationFailed(status.get("Err") or f"its task ended ({status['State']})")
            container = (status.get("ContainerStatus") or {}).get("ContainerID")
            if container and status.get("State") in RUNNING_TASK:
                return task["NodeID"], container
            time.sleep(0.1)
        raise IsolationFailed("Swarm did not start the desktop's container in time.")

    def _engine_of(self, node: str) -> docker.DockerClient:
        """The engine of `node`: this broker's own, or the node's over TLS, connected once."""
        if self._own_node is None:
            self._own_node = self.client.info()["Swarm"]["NodeID"]
        if node == self._own_node:
            return self.client
        with self._engines_lock:
            if node in self._engines:
                return self._engines[node]
            if not self.node_engine:
                raise IsolationFailed(
                    "Swarm placed the desktop on another node, and this broker has no way to its engine to load "
                    "the desktop's network rules there; an administrator has to set DESKBROKER_SWARM_NODE_ENGINE "
                    "(or keep desktops on the broker's node: DESKBROKER_SWARM_CONSTRAINTS=node.role==manager)."
                )
            address = self.client.api.inspect_node(node)["Status"]["Addr"]
            tls = TLSConfig(
                client_cert=(os.path.join(self.node_tls, "cert.pem"), os.path.join(self.node_tls, "key.pem")),
                ca_cert=os.path.join(self.node_tls, "ca.pem"),
                verify=True,
            )
            engine = docker.DockerClient(
                base_url=self.node_engine.format(address=address), tls=tls, timeout=API_TIMEOUT, version=API_VERSION
            )
            # Else requests takes REQUESTS_CA_BUNDLE (set for TLS-inspecting proxies) over the nodes' CA.
            engine.api.trust_env = False
            self._engines[node] = engine
            return engine

    def stop(self, ref: str) -> None:
        """Scale to zero, then wait until the task's container has really stopped."""
        try:
            self._scale(ref, 0)
        except Vanished:
            return
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            with engine_errors():
                try:
                    tasks = self.client.api.tasks(filters={"service": ref})
                except NotFound:  # removed meanwhile
                    return
            if all(task["Status"]["State"] in ENDED_TASK for task in tasks):
                return
            time.sleep(0.2)

    def ended(self, ref: str) -> None:
        """Nothing to do: Swarm never starts an ended task again, and a new task the broker did not
        start is a stray (ADMITTED_LABEL)."""

    def remove(self, ref: str) -> None:
        state = self.inspect(ref)
        if state is None:
            return
        with engine_errors():
            try:
                self.client.api.remove_service(ref)
            except NotFound:
                pass
            for secret in self.client.api.secrets(filters={"label": f"{DESKTOP_LABEL}={state.desktop_id}"}):
                self.client.api.remove_secret(secret["ID"])

    def inspect(self, ref: str) -> ContainerState | None:
        with engine_errors():
            try:
                service = self.client.api.inspect_service(ref)
            except NotFound:
                return None
            return self._state(service, self.client.api.tasks(filters={"service": service["ID"]}), self._node)

    def find(self, name: str) -> ContainerState | None:
        return self.inspect(name)

    def list_managed(self) -> list[ContainerState]:
        with engine_errors():
            services = self.client.api.services(filters={"label": [f"{BROKER_LABEL}={self.instance}", DESKTOP_LABEL]})
            if not services:
                return []
            tasks = self.client.api.tasks(filters={"service": [service["ID"] for service in services]})
            nodes = {node["ID"]: node for node in self.client.api.nodes()}  # one call for them all
            return [
                self._state(service, [task for task in tasks if task["ServiceID"] == service["ID"]], nodes.get)
                for service in services
            ]

    def _node(self, node_id: str) -> dict | None:
        try:
            return self.client.api.inspect_node(node_id)
        except NotFound:
            return None

    def _state(self, service: dict, tasks: list[dict], node_of_task: Callable[[str], dict | None]) -> ContainerState:
        """`node_of_task`: a node's description by id (asked only for a task that should run)."""
        spec = service["Spec"]
        labels = spec.get("Labels") or {}
        wanted = spec["Mode"].get("Replicated", {}).get("Replicas", 0)
        # Only tasks of the latest start count: an ended older one says nothing about a new one.
        generation = spec["TaskTemplate"].get("ForceUpdate", 0)
        current = [task for task in tasks if task["Spec"].get("ForceUpdate", 0) == generation]
        task = max(current, key=lambda t: t["CreatedAt"], default=None)
        status = task["Status"] if task else {}
        running = bool(wanted and status.get("State") in RUNNING_TASK)
        problem, stray = "", False
        container = (status.get("ContainerStatus") or {}).get("ContainerID")
        # (No label at all: made by a broker from before the label; its rules were loaded then.)
        if running and ADMITTED_LABEL in labels and container and container != labels[ADMITTED_LABEL]:
            running, stray = False, True
            problem = "its container was started outside deskbroker, without its network rules"
        node = node_of_task(task["NodeID"]) if wanted and task and task.get("NodeID") else None
        if wanted and node and node["Status"]["State"] == "down":
            # The managers keep a lost node's last report ("running") until they give its tasks up.
            # ("unknown" is every node's state for a moment after a manager restarts: not lost.)
            running, problem = False, f"its node {node['Description']['Hostname']} is down"
        elif wanted and status.get("State") in ENDED_TASK:
            problem = status.get("Err") or f"its task ended ({status['State']})"
            if node and node["Spec"].get("Availability") == "drain":
                problem = f"its node {node['Description']['Hostname']} was drained"
        return ContainerState(
            ref=service["ID"],
            name=spec["Name"],
            instance=labels.get(BROKER_LABEL, ""),
            desktop_id=labels.get(DESKTOP_LABEL, ""),
            running=running,
            address=self._task_address(task) if running else None,
            problem=problem,
            stray=stray,
        )

    def node_of(self, address: str) -> str | None:
        """From the running tasks' addresses on the desktop network (desktops, and guacd as a global
        service); an engine that does not answer leaves it unknown, never a tunnel refused."""
        age = time.monotonic() - self._node_map_at
        unknown = address not in self._node_map and address not in self._looked_for
        if age >= NODE_MAP_SECONDS or (unknown and age >= NODE_MAP_MISS_SECONDS):
            self._node_map_at = time.monotonic()  # one asks; the others go on with what is known
            self._looked_for = {address}  # (a guacd that is no task: asked about once per period)
            try:
                tasks = self.client.api.tasks(filters={"desired-state": "running"})
            except (DockerException, requests.RequestException, EngineUnavailable) as error:
                log.warning("which node runs which desktop is unknown for now: %s", error)
            else:
                self._node_map = {
                    found: task["NodeID"]
                    for task in tasks
                    if (found := self._task_address(task)) and task.get("NodeID")
                }
        return self._node_map.get(address)

    def _task_address(self, task: dict) -> str | None:
        for attachment in task.get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0]
        return None

    def _scale(self, ref: str, replicas: int) -> None:
        with engine_errors():
            try:
                service = self.client.api.inspect_service(ref)
            except NotFound as error:
                raise Vanished("Its service is gone from the swarm.") from error
            # A new ForceUpdate makes a fresh task even when the old one ended by itself.
            force = service["Spec"]["TaskTemplate"].get("ForceUpdate", 0) + (1 if replicas else 0)
            self.client.api.update_service(
                ref,
                service["Version"]["Index"],
                fetch_current_spec=True,
                mode=ServiceMode("replicated", replicas),
                task_template={"ForceUpdate": force},
            )
