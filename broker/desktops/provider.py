"""What the broker needs from a container engine, whatever the engine.

One module per engine (`docker.py`, `swarm.py`; a Kubernetes provider would be a third).
Providers know nothing of the database or of users: the lifecycle service decides, they
carry out, and they say what really runs through labels, which are the truth about it.
An engine offers three parts: `Containers` (the desktops the lifecycle drives), `Volumes` (all
the file manager is given of the engine) and `ImageCatalog` (what the catalog sync reads).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from broker.engine import ProviderError
from broker.errors import Unavailable
from broker.images.catalog import CatalogImage

BROKER_LABEL = "io.deskbroker.broker"  # the broker instance that made it
DESKTOP_LABEL = "io.deskbroker.desktop"  # the desktop's id in the database
TYPE_LABEL = "io.deskbroker.desktop-type"
OWNER_LABEL = "io.deskbroker.owner"  # username when made, for people; empty in the pool
OWNER_ID_LABEL = "io.deskbroker.owner-id"  # the owner's stable subject
ASSIGNMENT_LABEL = "io.deskbroker.assignment"  # an assignment folder's volume: the assignment's id
EGRESS_LABEL = "io.deskbroker.egress"  # none, internet or proxy: what its network rules allow out
PORTS_LABEL = "io.deskbroker.ports"  # the TCP ports the tier opens into it, comma separated

HOME_DIR = "/home/user"
DESKTOP_DISPLAY = ":1"  # the X display the desktop's VNC server draws (images/base)
DESKTOP_USER = (1000, 1000)  # uid and gid of the desktop user in the images (images/base/Dockerfile)
PUBLIC_DIR = "/srv/public"  # the public space, mounted read-only into every desktop
# The image's init reads the password from the file VNC_PASSWORD_FILE names (images/base).
PASSWORD_FILE = "/run/secrets/vnc-password"
STOP_TIMEOUT = 10  # seconds; desktop-init exits within about one


class IsolationFailed(ProviderError):
    """A desktop's network rules could not be put in place, so it was not connected to any network."""


class ImageMissing(Unavailable, ProviderError):
    """The desktop type's image is not on the engine."""

    code = "image_missing"


class Vanished(ProviderError):
    """The engine no longer has the desktop's container (or service)."""


@dataclass(frozen=True)
class FolderMount:
    """An assignment's folder: its volume, mounted read-only at HOME_DIR/<folder>."""

    folder: str
    volume: str
    assignment_id: int


class NameTaken(ProviderError):
    """A container (or service) of that name exists already; `existing` is what it is."""

    def __init__(self, existing: ContainerState | None):
        super().__init__("the desktop's name is taken on the engine")
        self.existing = existing


@dataclass(frozen=True)
class DesktopSpec:
    """Everything the engine needs to run one desktop."""

    desktop_id: str
    name: str
    image: str
    desktop_type: str
    owner: str  # username; empty for a pool desktop
    owner_id: str  # subject; empty for a pool desktop
    vnc_password: str = field(repr=False)
    memory_mb: int
    cpus: float
    pids_limit: int
    shm_size_mb: int | None
    home_volume: str | None  # None: no persistent home
    folders: tuple[FolderMount, ...] = ()
    ports: tuple[int, ...] = (5901,)  # what the tier connects to: VNC (later audio)
    egress: str = "none"  # broker.desktops.isolation.EGRESS_MODES
    language: str | None = None  # the owner's (broker.models.LANGUAGES); None: the image's own

    def labels(self, instance: str) -> dict[str, str]:
        return {
            BROKER_LABEL: instance,
            DESKTOP_LABEL: self.desktop_id,
            TYPE_LABEL: self.desktop_type,
            OWNER_LABEL: self.owner,
            OWNER_ID_LABEL: self.owner_id,
            EGRESS_LABEL: self.egress,
            PORTS_LABEL: ",".join(str(port) for port in self.ports),
        }

    def home_labels(self, instance: str) -> dict[str, str]:
        return home_labels(instance, self.owner, self.owner_id)


def home_labels(instance: str, owner: str, owner_id: str) -> dict[str, str]:
    return {BROKER_LABEL: instance, OWNER_LABEL: owner, OWNER_ID_LABEL: owner_id}


def public_labels(instance: str) -> dict[str, str]:
    return {BROKER_LABEL: instance}


def folder_labels(instance: str, assignment_id: int) -> dict[str, str]:
    return {BROKER_LABEL: instance, ASSIGNMENT_LABEL: str(assignment_id)}


@dataclass(frozen=True)
class ContainerState:
    """What the engine says about one desktop."""

    ref: str  # the engine's id for it: a container id, or a Swarm service id
    name: str
    instance: str
    desktop_id: str
    running: bool
    address: str | None  # on the desktop network
    problem: str = ""  # why it is not running, for people ("exited with code 2")
    stray: bool = False  # runs without the rules the broker loads: to be stopped, never adopted


class Containers(Protocol):
    """The desktops themselves: what the lifecycle service and housekeeping drive."""

    instance: str

    @abstractmethod
    def create(self, spec: DesktopSpec) -> str:
        """Create and start the desktop, isolated (broker.desktops.isolation); return its ref.

        Raises NameTaken when the name exists; on any failure nothing is left behind.
        """

    @abstractmethod
    def start(self, ref: str) -> None:
        """Start a stopped desktop again (same container where the engine keeps one), isolated as at
        its creation; Vanished if gone."""

    @abstractmethod
    def stop(self, ref: str) -> None:
        """Stop it and return once it has stopped; keep it for a later start."""

    @abstractmethod
    def ended(self, ref: str) -> None:
        """It ended by itself: leave it as a stop would, so that a start outside the broker gives it
        no network without its rules."""

    @abstractmethod
    def remove(self, ref: str) -> None:
        """Remove it and what belongs only to it (not the home); gone already is fine."""

    @abstractmethod
    def inspect(self, ref: str) -> ContainerState | None:
        """Its state, or None when the engine does not have it."""

    @abstractmethod
    def find(self, name: str) -> ContainerState | None:
        """The container or service of that name, whoever made it."""

    @abstractmethod
    def list_managed(self) -> list[ContainerState]:
        """Everything this broker instance made (by label), running or not."""

    @abstractmethod
    def run_as_desktop_user(self, ref: str, argv: list[str]) -> None:
        """Start `argv` (no shell) in the running desktop as its user (DESKTOP_USER) on its display, and
        return without waiting for it; ProviderError when it cannot be started or fails at once."""

    def node_of(self, address: str) -> str | None:
        """The node that runs the container at `address` on the desktop network (a desktop, a guacd),
        so that a tunnel can take the guacd beside its desktop; None on one engine, or when unknown."""
        return None

    @abstractmethod
    def ended_desktops(self) -> Iterator[str]:
        """Blocks, yielding the desktop id whenever one of this instance's desktops stops or goes
        away (the engine's event stream); ProviderError when the stream cannot be had or breaks."""


class Volumes(Protocol):
    """The homes, the public space and the assignment folders: all the file manager sees of the engine."""

    @abstractmethod
    def remove_home(self, owner_id: str) -> list[str]:
        """Delete the home volume(s) of that owner; return their names. ProviderError if in use."""

    @abstractmethod
    def volume_folder(self, name: str, labels: dict[str, str]) -> str:
        """The folder on this host holding the volume `name` (made with `labels` if missing).

        ProviderError when the broker cannot reach it as a folder (another host, another driver).
        """

    @abstractmethod
    def folder_volumes(self) -> list[str]:
        """The names of this instance's assignment-folder volumes."""

    @abstractmethod
    def remove_volume(self, name: str) -> bool:
        """Delete the volume; False while a container (running or not) still uses it. Gone already is fine."""


class ImageCatalog(Protocol):
    """The desktop images the engine has."""

    @abstractmethod
    def catalog(self) -> list[CatalogImage]:
        """The desktop images the engine offers, read from their catalog labels."""


class Provider(Containers, Volumes, ImageCatalog, Protocol):
    """One engine offering all three (broker.desktops.docker, broker.desktops.swarm)."""
