"""Desktops as containers on one Docker engine, found as the docker CLI finds it (DOCKER_HOST)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import stat
import tarfile
import threading
import time
from collections.abc import Iterator

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Mount

from broker import host_turns
from broker.config import DesktopSettings, proxy_endpoint
from broker.desktops import isolation
from broker.desktops.naming import public_volume_name
from broker.desktops.provider import (
    ASSIGNMENT_LABEL,
    BROKER_LABEL,
    DESKTOP_DISPLAY,
    DESKTOP_LABEL,
    DESKTOP_USER,
    EGRESS_LABEL,
    HOME_DIR,
    OWNER_ID_LABEL,
    PASSWORD_FILE,
    PORTS_LABEL,
    PUBLIC_DIR,
    STOP_TIMEOUT,
    ContainerState,
    DesktopSpec,
    ImageMissing,
    IsolationFailed,
    NameTaken,
    Provider,
    Vanished,
    folder_labels,
    public_labels,
)
from broker.desktops.volume_storage import VolumeStorage
from broker.engine import EngineUnavailable, ProviderError, docker_client
from broker.images.catalog import CatalogImage, catalog_images

log = logging.getLogger(__name__)

# desktop-init starts as root to seed the home and write Xvnc's password file (CHOWN,
# DAC_OVERRIDE, FOWNER), then runs everything as the user (SETUID, SETGID) and ends it on
# `docker stop` (KILL). The other default capabilities (NET_RAW, MKNOD, ...) are dropped, and
# NET_ADMIN is never given: the desktop's network rules (isolation.py) stay as the broker set them.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"]
API_TIMEOUT = 30
SUBNET_WAIT = 5  # seconds
EXEC_SETTLE = 0.5  # seconds a program run in a desktop has to fail at once before it counts as started
UNREACHABLE = (
    "The container engine is not reachable, so desktops cannot be started or stopped right now. Please try again later."
)
TOO_BUSY = "The container engine is too busy to start desktops right now. Please try again in a minute."


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Turn the SDK's errors into ProviderErrors a person can read."""
    try:
        yield
    except ProviderError:
        raise
    except APIError as error:
        raise ProviderError(f"The container engine refused: {error.explanation or error}") from error
    except requests.Timeout as error:
        log.warning("container engine did not answer within %s s: %s", API_TIMEOUT, error)
        raise EngineUnavailable(TOO_BUSY) from error
    except (DockerException, requests.RequestException) as error:
        log.warning("container engine unreachable: %s", error)
        raise EngineUnavailable(UNREACHABLE) from error


def secret_archive(password: str) -> bytes:
    """A tar of PASSWORD_FILE (root-only) to unpack in /run before the container starts."""
    directory, name = PASSWORD_FILE.removeprefix("/run/").split("/")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(directory)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(folder)
        data = password.encode()
        file = tarfile.TarInfo(f"{directory}/{name}")
        file.mode, file.size = 0o400, len(data)
        tar.addfile(file, io.BytesIO(data))
    return buffer.getvalue()


def _remove_quietly(api: docker.APIClient, ref: str) -> None:
    with contextlib.suppress(DockerException, requests.RequestException):
        api.remove_container(ref, force=True)


class DockerProvider(Provider):
    def __init__(self, settings: DesktopSettings):
        self.instance = settings.instance
        self.network = settings.desktop_network
        self.network_internal = settings.desktop_network_internal
        self.egress_network = settings.egress_network
        self.egress_proxy = settings.egress_proxy
        self.egress_deny = settings.egress_deny
        self.netguard_image = settings.netguard_image
        self.storage = VolumeStorage(settings.shared_volumes)
        self._client: docker.DockerClient | None = None
        self._subnets: dict[str, tuple[str, ...]] = {}
        self._network_lock = threading.Lock()
        self._host_addresses = isolation.HostAddresses(self._list_host_addresses)
        self._launches_at_once = settings.launches_at_once
        self._launch_wait = settings.desktop_start_timeout

    @contextlib.contextmanager
    def launch_turn(self) -> Iterator[None]:
        """Wait (at most the start timeout) until fewer than `launches_at_once` launches run on this host.

        A class starting together gains nothing from more launches at once than the engine's cores
        keep up with: every engine call, and every first frame of those already started, only gets
        slower (DESKBROKER_LAUNCHES_AT_ONCE, docs/operations.md "No one stalls the others"). Counted on
        the host, not per broker process, so that more workers do not mean more launches."""
        try:
            with host_turns.turn("launches", self._launch_wait, slots=self._launches_at_once, poll=0.02):
                yield
        except host_turns.Busy:
            raise EngineUnavailable(TOO_BUSY) from None

    @property
    def client(self) -> docker.DockerClient:
        """Connected on first use, so the broker starts (and answers) while the engine is down."""
        if self._client is None:
            try:
                self._client = docker_client(timeout=API_TIMEOUT)
            except EngineUnavailable as error:
                log.warning("%s", error)
                raise EngineUnavailable(UNREACHABLE) from error
        return self._client

    def network_options(self, internal: bool) -> dict:
        return {"driver": "bridge", "internal": internal}

    def ensure_network(self, name: str | None = None, internal: bool | None = None) -> tuple[str, ...]:
        """Make the network (default: the desktop network) unless it exists (an admin may have made it,
        as they like); return its subnets."""
        name = name or self.network
        if name in self._subnets:
            return self._subnets[name]
        # One at a time in this process: engines that ignore check_duplicate (API 1.44+) would make
        # several networks of one name for desktops started at once (a lesson's).
        with self._network_lock:
            return self._ensure_network(name, internal)

    def _ensure_network(self, name: str, internal: bool | None) -> tuple[str, ...]:
        if name in self._subnets:
            return self._subnets[name]
        try:
            attrs = self.client.api.inspect_network(name)
        except NotFound:
            options = self.network_options(self.network_internal if internal is None else internal)
            try:
                self.client.api.create_network(
                    name, check_duplicate=True, labels={BROKER_LABEL: self.instance}, **options
                )
            except APIError as error:
                if error.status_code != 409:  # 409: another broker process made it just now
                    raise
            attrs = self.client.api.inspect_network(name)
        deadline = time.monotonic() + SUBNET_WAIT
        while not (subnets := _ipv4_subnets(attrs)) and time.monotonic() < deadline:
            time.sleep(0.1)  # a new overlay gets its subnet from the manager a moment later
            attrs = self.client.api.inspect_network(name)
        if subnets:
            self._subnets[name] = subnets
        return subnets

    # --- isolation: the network rules are loaded before a desktop is on any network

    def networks_for(self, egress: str) -> list[str]:
        """The networks a desktop joins once its rules are in place."""
        if egress == "none":
            return [self.network]
        self.ensure_network(self.egress_network, internal=False)
        return [self.network, self.egress_network]

    def policy(self, labels: dict[str, str]) -> isolation.Policy:
        """The rules for a desktop, from the labels it was made with and today's settings."""
        egress = labels.get(EGRESS_LABEL) or "none"
        ports = tuple(int(port) for port in (labels.get(PORTS_LABEL) or "5901").split(","))
        sources = self.ensure_network()
        if not sources:
            raise IsolationFailed(f"The desktop network {self.network} has no IPv4 subnet the rules could name.")
        if egress == "internet":
            deny = (
                *self._host_deny(),
                *self.egress_deny,
                *sources,
                *self.ensure_network(self.egress_network, internal=False),
            )
            return isolation.Policy(ports, sources, egress, deny=deny)
        if egress == "proxy":
            if not self.egress_proxy:
                raise IsolationFailed(
                    "This desktop type sends its web traffic through a proxy, and no proxy is "
                    "configured (DESKBROKER_EGRESS_PROXY); an administrator has to set one."
                )
            try:
                proxy = isolation.resolve(*proxy_endpoint(self.egress_proxy))
            except LookupError as error:
                raise IsolationFailed(f"The desktop cannot be started: {error}.") from error
            return isolation.Policy(ports, sources, egress, proxy=proxy)
        return isolation.Policy(ports, sources)

    def isolate(
        self, ref: str, policy: isolation.Policy, flush: bool = False, api: docker.APIClient | None = None
    ) -> None:
        """Load the rules into the running container's network namespace, through `api` (the engine
        that runs it; default this broker's); `flush`: and cut every connection it has (connection
        tracking emptied), for a container that was on a network before."""
        api = api or self.client.api
        try:
            guard = api.create_container(
                self.netguard_image,
                environment={
                    "RULES_V4": isolation.rules_v4(policy),
                    "RULES_V6": isolation.rules_v6(),
                    "FLUSH": "1" if flush else "",
                },
                labels={BROKER_LABEL: self.instance},
                host_config=api.create_host_config(
                    network_mode=f"container:{ref}",
                    read_only=True,
                    cap_drop=["ALL"],
                    cap_add=["NET_ADMIN"],
                    security_opt=["no-new-privileges"],
                    mem_limit="64m",
                    pids_limit=32,
                ),
            )["Id"]
        except ImageNotFound as error:
            raise self._guard_missing() from error
        try:
            api.start(guard)
            status = api.wait(guard, timeout=API_TIMEOUT)["StatusCode"]
            if status != 0:
                detail = api.logs(guard, stdout=False, stderr=True).decode(errors="replace").strip()[-300:]
                raise IsolationFailed(f"The desktop's network rules could not be loaded: {detail}")
        finally:
            # Off the start's path: the rules are in, the exited guard only has to go.
            threading.Thread(target=_remove_quietly, args=(api, guard), daemon=True).start()

    def _guard_missing(self) -> IsolationFailed:
        return IsolationFailed(
            f"The network guard image {self.netguard_image} is not on the container engine; an "
            "administrator has to build it (`broker images build netguard`)."
        )

    def _host_deny(self) -> tuple[str, ...]:
        """The host's own addresses; through the socket proxy (no host network) the admin lists them."""
        try:
            return self._host_addresses.get()
        except APIError as error:
            if error.status_code != 403:
                raise
            if not self.egress_deny:
                raise IsolationFailed(
                    "This desktop type reaches the internet, and the container engine refused to show this host's "
                    "own addresses (as the socket proxy does), which such desktops must not reach; an administrator "
                    "has to list them in DESKBROKER_EGRESS_DENY."
                ) from error
            return ()

    def _list_host_addresses(self) -> str:
        """`ip -o addr show` on the engine's host, from the guard image on the host's network."""
        try:
            return self.client.containers.run(
                self.netguard_image,
                ["ip", "-o", "addr", "show"],
                network_mode="host",
                remove=True,
                read_only=True,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                mem_limit="64m",
                labels={BROKER_LABEL: self.instance},
            ).decode()
        except ImageNotFound as error:
            raise self._guard_missing() from error

    def _disconnect_all(self, ref: str, attrs: dict | None = None) -> None:
        attrs = attrs or self.client.api.inspect_container(ref)
        for name in attrs["NetworkSettings"].get("Networks") or {}:
            with contextlib.suppress(NotFound):
                self.client.api.disconnect_container_from_network(ref, name, force=True)

    def _launch(self, ref: str) -> None:
        """Start the container with no network, load its rules, then connect it: never networked without them."""
        attrs = self.client.api.inspect_container(ref)
        labels = attrs["Config"]["Labels"] or {}
        policy = self.policy(labels)  # before the start: a configuration problem leaves it untouched
        self._disconnect_all(ref, attrs)
        self.client.api.start(ref)
        try:
            self.isolate(ref, policy)
            for network in self.networks_for(policy.egress):
                self.client.api.connect_container_to_network(ref, network)
        except BaseException:
            with contextlib.suppress(DockerException, requests.RequestException):
                self.client.api.kill(ref)
            raise

    def volume_mounts(self, spec: DesktopSpec) -> list[Mount]:
        # (where, volume, its labels, read-only); the engine makes each volume the first time it is mounted.
        volumes = [
            *([(HOME_DIR, spec.home_volume, spec.home_labels(self.instance), False)] if spec.home_volume else []),
            (PUBLIC_DIR, public_volume_name(self.instance), public_labels(self.instance), True),
            *(
                (f"{HOME_DIR}/{mount.folder}", mount.volume, folder_labels(self.instance, mount.assignment_id), True)
                for mount in spec.folders
            ),
        ]
        for _target, name, labels, _read_only in volumes:
            self.storage.prepare(self.client, name, labels)
        return [self.storage.mount(*volume) for volume in volumes]

    def create(self, spec: DesktopSpec) -> str:
        with self.launch_turn(), engine_errors():
            self.ensure_network()
            try:
                container = self.client.containers.create(
                    spec.image,
                    name=spec.name,
                    labels=spec.labels(self.instance),
                    network=self.network,
                    environment=self.environment(spec),
                    mounts=self.volume_mounts(spec),
                    mem_limit=f"{spec.memory_mb}m",
                    memswap_limit=f"{spec.memory_mb}m",
                    nano_cpus=int(spec.cpus * 1e9),
                    pids_limit=spec.pids_limit,
                    shm_size=f"{spec.shm_size_mb}m" if spec.shm_size_mb else None,
                    cap_drop=["ALL"],
                    cap_add=CAPABILITIES,
                    security_opt=["no-new-privileges"],
                )
            except ImageNotFound as error:
                raise ImageMissing(
                    f"The desktop image {spec.image} is not on the container engine; an "
                    "administrator has to build it (`broker images build`) or pull it."
                ) from error
            except APIError as error:
                if error.status_code == 409:
                    raise NameTaken(self.find(spec.name)) from error
                raise
            try:
                # A file rather than an environment variable: `docker inspect` shows no secret.
                container.put_archive("/run", secret_archive(spec.vnc_password))
                self._launch(container.id)
            except BaseException:
                with contextlib.suppress(DockerException, requests.RequestException):
                    container.remove(force=True, v=True)
                raise
            return container.id

    def environment(self, spec: DesktopSpec) -> dict[str, str]:
        env = {"VNC_PASSWORD_FILE": PASSWORD_FILE}
        if spec.language:  # desktop-init sets the session's locale and keyboard layout from it
            env["DESKTOP_LANG"] = spec.language
        if spec.egress == "proxy" and self.egress_proxy:
            for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
                env[name] = self.egress_proxy
            env["no_proxy"] = env["NO_PROXY"] = "localhost,127.0.0.1"
        return env

    def start(self, ref: str) -> None:
        with self.launch_turn(), engine_errors():
            try:
                self._launch(ref)
            except NotFound as error:
                raise Vanished("Its container is gone from the engine.") from error

    def stop(self, ref: str) -> None:
        with engine_errors(), contextlib.suppress(NotFound):
            self.client.api.stop(ref, timeout=STOP_TIMEOUT)
            # A stopped desktop is on no network, so a start outside the broker gives it none either.
            self._disconnect_all(ref)

    def ended(self, ref: str) -> None:
        with engine_errors(), contextlib.suppress(NotFound):
            self._disconnect_all(ref)

    def remove(self, ref: str) -> None:
        with engine_errors():
            try:
                self.client.api.remove_container(ref, force=True, v=True)
            except NotFound:
                pass
            except APIError as error:
                if error.status_code != 409:  # 409: its removal is already under way
                    raise

    def run_as_desktop_user(self, ref: str, argv: list[str]) -> None:
        with engine_errors():
            try:
                api, container = self._exec_target(ref)
                run = api.exec_create(
                    container,
                    argv,
                    user="{}:{}".format(*DESKTOP_USER),
                    environment={"DISPLAY": DESKTOP_DISPLAY, "HOME": HOME_DIR},
                    workdir=HOME_DIR,
                    stdout=False,
                    stderr=False,
                )
                api.exec_start(run["Id"], detach=True)
            except NotFound as error:
                raise Vanished("Its container is gone from the engine.") from error
            except APIError as error:
                if "executable file not found" in str(error):
                    raise ProviderError(f"This desktop has no {argv[0]}.") from error
                raise
            # A program that is missing or refuses its argument ends at once: say so, not "opened".
            deadline = time.monotonic() + EXEC_SETTLE
            while (state := api.exec_inspect(run["Id"]))["Running"] and time.monotonic() < deadline:
                time.sleep(0.05)
            if not state["Running"] and state["ExitCode"]:
                raise ProviderError(f"{argv[0]} ended with code {state['ExitCode']}")

    def _exec_target(self, ref: str) -> tuple[docker.APIClient, str]:
        """The engine and container to run a program in: this broker's, the desktop's own."""
        return self.client.api, ref

    def inspect(self, ref: str) -> ContainerState | None:
        with engine_errors():
            try:
                attrs = self.client.api.inspect_container(ref)
            except NotFound:
                return None
        state, labels = attrs["State"], attrs["Config"]["Labels"] or {}
        return ContainerState(
            ref=attrs["Id"],
            name=attrs["Name"].lstrip("/"),
            instance=labels.get(BROKER_LABEL, ""),
            desktop_id=labels.get(DESKTOP_LABEL, ""),
            running=state["Running"],
            address=self._address(attrs["NetworkSettings"]),
            problem="" if state["Running"] or state["Status"] == "created" else _exit_problem(state),
        )

    def find(self, name: str) -> ContainerState | None:
        return self.inspect(name)

    def list_managed(self) -> list[ContainerState]:
        with engine_errors():
            # Only desktops: other containers may carry the instance label too (guacd, websockify in compose).
            found = self.client.api.containers(
                all=True, filters={"label": [f"{BROKER_LABEL}={self.instance}", DESKTOP_LABEL]}
            )
        return [
            ContainerState(
                ref=summary["Id"],
                name=summary["Names"][0].lstrip("/"),
                instance=self.instance,
                desktop_id=summary["Labels"].get(DESKTOP_LABEL, ""),
                # Paused still holds the person's session, as `inspect` (State.Running) says too.
                running=summary["State"] in ("running", "paused"),
                address=self._address(summary["NetworkSettings"]),
                problem=""
                if summary["State"] in ("running", "paused", "created")
                else _status_problem(summary["Status"]),
            )
            for summary in found
        ]

    def ended_desktops(self) -> Iterator[str]:
        # `die` covers stop, kill and crash; `destroy` a removal (also of a container never started).
        with engine_errors():
            for event in self.client.api.events(
                decode=True,
                filters={
                    "type": "container",
                    "event": ["die", "destroy"],
                    "label": [f"{BROKER_LABEL}={self.instance}", DESKTOP_LABEL],
                },
            ):
                desktop_id = (event.get("Actor") or {}).get("Attributes", {}).get(DESKTOP_LABEL)
                if desktop_id:
                    yield desktop_id

    def remove_home(self, owner_id: str) -> list[str]:
        labels = [f"{BROKER_LABEL}={self.instance}", f"{OWNER_ID_LABEL}={owner_id}"]
        with engine_errors():
            volumes = self.client.volumes.list(filters={"label": labels})
            for volume in volumes:
                try:
                    volume.remove()
                except APIError as error:
                    if error.status_code == 409:
                        raise ProviderError(
                            f"The home volume {volume.name} is still in use by a desktop; remove that desktop first."
                        ) from error
                    raise
                self.storage.erase(volume.name)
        return [volume.name for volume in volumes]

    def folder_volumes(self) -> list[str]:
        with engine_errors():
            found = self.client.api.volumes(filters={"label": [f"{BROKER_LABEL}={self.instance}", ASSIGNMENT_LABEL]})
        return [volume["Name"] for volume in found.get("Volumes") or []]

    def remove_volume(self, name: str) -> bool:
        with engine_errors():
            try:
                self.client.api.remove_volume(name)
            except NotFound:
                pass
            except APIError as error:
                if error.status_code == 409:  # in use
                    return False
                raise
        self.storage.erase(name)
        return True

    def volume_folder(self, name: str, labels: dict[str, str]) -> str:
        if shared := self.storage.folder(name):
            with engine_errors():
                self.storage.prepare(self.client, name, labels)
            return str(shared)
        with engine_errors():
            try:
                folder, owner = _folder(self.client.api.inspect_volume(name))
            except NotFound:
                folder, owner = None, None
            if owner != DESKTOP_USER[0]:
                self._give_to_desktop_user(name, labels)
                folder, owner = _folder(self.client.api.inspect_volume(name))
        if owner != DESKTOP_USER[0]:
            raise ProviderError(
                f"The volume {name} belongs to uid {owner}, not to the desktop user, and holds "
                f"files already; an administrator can hand it over on the engine's host: "
                f"chown {DESKTOP_USER[0]}:{DESKTOP_USER[1]} {folder}"
            )
        return folder

    def _give_to_desktop_user(self, name: str, labels: dict[str, str]) -> None:
        """Hand an empty volume to the desktop user (making it with `labels` when missing), as a desktop does.

        Creating a container copies the owner of the image's folder onto an empty volume mounted
        there ("copy-up"). A desktop image's home is the desktop user's and empty, so a container of
        one with the volume at the home, created and removed, never started, does it: no process
        runs, and the broker needs no root and no capability for it.
        """
        image = next((found.ref for found in self.catalog() if found.entry), None)
        if image is None:
            raise ProviderError(
                "The file manager makes its volumes from a desktop image, and the container "
                "engine has none yet; an administrator has to build them (`broker images build`)."
            )
        container = self.client.api.create_container(
            image,
            labels={BROKER_LABEL: self.instance},
            network_disabled=True,
            host_config=self.client.api.create_host_config(
                mounts=[self.storage.mount(HOME_DIR, name, labels)],
                network_mode="none",
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
            ),
        )
        self.client.api.remove_container(container["Id"], force=True, v=True)  # v: anonymous volumes only

    def catalog(self) -> list[CatalogImage]:
        with engine_errors():
            return catalog_images(self.client)

    def _address(self, network_settings: dict) -> str | None:
        return ((network_settings.get("Networks") or {}).get(self.network) or {}).get("IPAddress") or None


def _ipv4_subnets(network: dict) -> tuple[str, ...]:
    return tuple(
        config["Subnet"]
        for config in (network.get("IPAM") or {}).get("Config") or []
        if "." in config.get("Subnet", "")
    )


def _folder(volume: dict) -> tuple[str, int]:
    """The volume's folder on this host and the uid owning it; ProviderError when the broker cannot reach it."""
    name, folder = volume["Name"], volume["Mountpoint"]
    # A local volume with options (NFS, bind) is mounted only while a container uses it.
    if volume["Driver"] != "local" or volume.get("Options"):
        raise ProviderError(
            f"The volume {name} (driver {volume['Driver']}, with options) is not a plain "
            "folder on this host, so the file manager cannot reach it."
        )
    try:
        info = os.stat(folder)
    except PermissionError as error:
        raise ProviderError(
            f"The file manager may not enter the volume folder {folder}: the broker has to run as "
            f"the desktop user (uid {DESKTOP_USER[0]}) or as root, and the engine's volumes "
            "folder has to let others through (mode 701, as Docker 20.10 makes it)."
        ) from error
    except OSError as error:
        raise ProviderError(
            f"The file manager cannot reach the volume {name}: the broker has to run on the "
            f"container engine's host and see its volume folders ({folder})."
        ) from error
    if not stat.S_ISDIR(info.st_mode):
        raise ProviderError(f"The volume {name}'s folder {folder} is no folder.")
    return folder, info.st_uid


def _status_problem(status: str) -> str:
    """From a listing's "Exited (137) 5 minutes ago" (which the list gives instead of the state)."""
    exited = re.match(r"Exited \((\d+)\)", status)
    return f"it exited with code {exited.group(1)}" if exited else status


def _exit_problem(state: dict) -> str:
    if state.get("OOMKilled"):
        return "it ran out of memory"
    if state.get("Error"):
        return state["Error"]
    return f"it exited with code {state['ExitCode']}"
