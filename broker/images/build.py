"""Building the images under images/ (desktops) and guacd/ (the translation tier) in
dependency order.

Each folder with a Dockerfile is an image. A Dockerfile whose `ARG BASE_IMAGE=` default
names `deskbroker/<parent>:...` is a variant of that parent; any other default means it
builds on Debian (the suite its `debian:<suite>...` default names, else bookworm), which
comes from a registry or, without one, from debootstrap. A `# build-context: PATH` line
(relative to the Dockerfile's folder) widens the build context, e.g. to the repository
root for an image that copies broker code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from broker import __version__

REPOSITORY = "deskbroker"
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPOSITORY_ROOT / "images"
TIER_DIR = REPOSITORY_ROOT / "guacd"
IMAGE_DIRS = (IMAGES_DIR, TIER_DIR)
DEFAULT_DEBIAN_SUITE = "bookworm"
DEFAULT_DEBIAN_IMAGE = f"debian:{DEFAULT_DEBIAN_SUITE}-slim"
DEBIAN_MIRROR = os.environ.get("DESKBROKER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SECURITY_MIRROR = os.environ.get("DESKBROKER_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
NOTE_PREFIX = "==> "  # Dockerfile output lines meant for the maintainer, always shown
ERROR_TAIL_LINES = 25

Progress = Callable[[str], None]

_PARENT_PATTERN = re.compile(rf"^ARG\s+BASE_IMAGE={REPOSITORY}/([\w.-]+):\S+\s*$", re.MULTILINE)
_DEBIAN_PATTERN = re.compile(r"^ARG\s+BASE_IMAGE=(?:\S+/)?debian:([a-z]+)\S*\s*$", re.MULTILINE)
_CONTEXT_PATTERN = re.compile(r"^#\s*build-context:\s*(\S+)\s*$", re.MULTILINE)
_ARG_PATTERN = re.compile(r"^ARG\s+(\w+)", re.MULTILINE)
_STEP_PATTERN = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_COLOUR_CODES = re.compile(r"\x1b\[[0-9;]*m")  # the builder colours RUN's stderr


class BuildError(RuntimeError):
    """An image could not be built; the message names the image and step."""


@dataclass(frozen=True)
class ImageSource:
    name: str
    context: Path
    dockerfile: Path
    parent: str | None  # another image of ours, or None: built on Debian
    debian_suite: str  # the suite it builds on when parent is None
    declared_args: frozenset[str]

    def ref(self, tag: str = __version__) -> str:
        return f"{REPOSITORY}/{self.name}:{tag}"


@dataclass
class BuildStep:
    number: int
    instruction: str
    cached: bool = False
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class BuildResult:
    name: str
    tags: tuple[str, ...]
    image_id: str
    size_bytes: int
    seconds: float
    steps: tuple[BuildStep, ...]

    @property
    def rebuilt_steps(self) -> list[BuildStep]:
        """Steps after FROM that were not answered from the layer cache."""
        after_from = False
        rebuilt = []
        for step in self.steps:
            if after_from and not step.cached:
                rebuilt.append(step)
            after_from = after_from or step.instruction.upper().startswith("FROM ")
        return rebuilt


def discover(images_dirs: Path | Sequence[Path] = IMAGE_DIRS) -> dict[str, ImageSource]:
    sources: dict[str, ImageSource] = {}
    for images_dir in [images_dirs] if isinstance(images_dirs, Path) else images_dirs:
        for dockerfile in sorted(images_dir.glob("*/Dockerfile")):
            name = dockerfile.parent.name
            if name in sources:
                raise BuildError(f"two images named {name!r}: {sources[name].dockerfile} and {dockerfile}")
            text = dockerfile.read_text()
            parent = _PARENT_PATTERN.search(text)
            suite = _DEBIAN_PATTERN.search(text)
            wider_context = _CONTEXT_PATTERN.search(text)
            sources[name] = ImageSource(
                name=name,
                context=(dockerfile.parent / wider_context.group(1)).resolve() if wider_context else dockerfile.parent,
                dockerfile=dockerfile,
                parent=parent.group(1) if parent else None,
                debian_suite=suite.group(1) if suite else DEFAULT_DEBIAN_SUITE,
                declared_args=frozenset(_ARG_PATTERN.findall(text)),
            )
    return sources


def build_order(sources: Mapping[str, ImageSource], names: Iterable[str]) -> list[ImageSource]:
    """The named images (all when none) and their ancestors, each after its parent."""
    ordered: list[ImageSource] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in chain:
            raise BuildError(f"images {' -> '.join(chain + (name,))} form a cycle")
        if name not in sources:
            known = ", ".join(sources) or "none"
            raise BuildError(f"no image named {name!r} (known: {known})")
        source = sources[name]
        if source.parent:
            visit(source.parent, chain + (name,))
        if source not in ordered:
            ordered.append(source)

    for name in names or sources:
        visit(name, ())
    return ordered


def build_images(
    client: docker.DockerClient,
    names: Sequence[str] = (),
    *,
    images_dir: Path | Sequence[Path] = IMAGE_DIRS,
    debian_image: str = DEFAULT_DEBIAN_IMAGE,
    build_args: Mapping[str, str] | None = None,
    progress: Progress = print,
    verbose: bool = False,
) -> list[BuildResult]:
    """Build the named images (and their parents); tag each with version, latest and date.

    `debian_image` is what images on bookworm build on; other suites use `debian:<suite>-slim`.
    """
    order = build_order(discover(images_dir), names)
    debian_images = {
        suite: ensure_debian_image(
            client,
            debian_image if suite == DEFAULT_DEBIAN_SUITE else f"debian:{suite}-slim",
            suite,
            progress,
        )
        for suite in sorted({source.debian_suite for source in order if source.parent is None})
    }
    date_tag = datetime.now(UTC).strftime("%Y%m%d")
    results = []
    for source in order:
        args = {k: v for k, v in (build_args or {}).items() if k in source.declared_args}
        parent_ref = f"{REPOSITORY}/{source.parent}:{__version__}" if source.parent else None
        args["BASE_IMAGE"] = parent_ref or debian_images[source.debian_suite]
        results.append(_build_one(client, source, args, ("latest", date_tag), progress, verbose))
    return results


def offline_debian_image(suite: str) -> str:
    return f"{REPOSITORY}/debian:{suite}"


def ensure_debian_image(client: docker.DockerClient, wanted: str, suite: str, progress: Progress) -> str:
    """The Debian image to build on: `wanted` if present or pullable, else an offline one."""
    if _exists(client, wanted):
        return wanted
    try:
        progress(f"pulling {wanted} ...")
        client.images.pull(wanted)
        return wanted
    except APIError as error:
        reason = error.explanation or _first_line(error)
        progress(f"cannot pull {wanted} ({reason}); using a Debian base made locally")
    offline = offline_debian_image(suite)
    if _exists(client, offline):
        progress(f"using {offline} (made earlier with debootstrap)")
    else:
        make_offline_debian_image(client, suite, progress)
    return offline


def make_offline_debian_image(client: docker.DockerClient, suite: str, progress: Progress) -> None:
    """Make a minimal Debian image of `suite` from Debian's packages: debootstrap + import."""
    tag = offline_debian_image(suite)
    if shutil.which("debootstrap") is None:
        raise BuildError("no Debian base image and no debootstrap: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise BuildError("making the Debian base image with debootstrap needs root")
    started = time.monotonic()
    progress(f"making {tag} with debootstrap from {DEBIAN_MIRROR} (about a minute) ...")
    with tempfile.TemporaryDirectory(prefix="deskbroker-debian-", dir="/var/tmp") as workdir:
        rootfs = Path(workdir) / "rootfs"
        try:
            _run_logged(
                ["debootstrap", "--variant=minbase", suite, str(rootfs), DEBIAN_MIRROR],
                "debootstrap",
            )
            _prepare_rootfs(rootfs, suite)
            _import_rootfs(client, rootfs, tag)
        finally:
            _unmount_below(rootfs)
    progress(f"made {tag} in {time.monotonic() - started:.1f} s")


def _prepare_rootfs(rootfs: Path, suite: str) -> None:
    """Drop the downloaded packages and indexes, point apt at `suite` with its updates."""
    for leftover in [
        *rootfs.glob("var/cache/apt/archives/*.deb"),
        *rootfs.glob("var/cache/apt/*.bin"),
        *(p for p in rootfs.glob("var/lib/apt/lists/*") if p.is_file()),
    ]:
        leftover.unlink()
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {DEBIAN_MIRROR}\nSuites: {suite} {suite}-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {DEBIAN_SECURITY_MIRROR}\nSuites: {suite}-security\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _import_rootfs(client: docker.DockerClient, rootfs: Path, tag: str) -> None:
    repository, _, version = tag.rpartition(":")
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        answer = client.api.import_image_from_data(
            tar.stdout, repository=repository, tag=version, changes=['CMD ["bash"]']
        )
    except APIError as error:
        raise BuildError(f"docker import of the Debian base failed: {error}") from error
    finally:
        _, tar_errors = tar.communicate()
    if tar.returncode != 0:
        raise BuildError(f"tar of the Debian base failed: {tar_errors.decode(errors='replace')}")
    if '"error"' in answer:
        raise BuildError(f"docker import of the Debian base failed: {answer}")


def _unmount_below(root: Path) -> None:
    """Unmount what a failed debootstrap may leave mounted, so removing the tree is safe."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def _run_logged(command: list[str], step: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-ERROR_TAIL_LINES:])
        raise BuildError(f"{step} failed (exit {completed.returncode}):\n{tail}")


def _build_one(
    client: docker.DockerClient,
    source: ImageSource,
    build_args: dict[str, str],
    extra_tags: Sequence[str],
    progress: Progress,
    verbose: bool,
) -> BuildResult:
    started = time.monotonic()
    progress(f"building {source.ref()} from {build_args['BASE_IMAGE']}")
    steps: list[BuildStep] = []
    tail: deque[str] = deque(maxlen=ERROR_TAIL_LINES)
    pending = ""

    def finish_step() -> None:
        if steps and not steps[-1].cached:
            seconds = time.monotonic() - steps[-1].started
            if seconds >= 1:
                progress(f"  [{source.name} {steps[-1].number}] done in {seconds:.1f} s")

    def handle_line(line: str) -> None:
        step = _STEP_PATTERN.match(line)
        if step:
            finish_step()
            tail.clear()
            steps.append(BuildStep(int(step.group(1)), step.group(3)))
            progress(f"  [{source.name} {step.group(1)}/{step.group(2)}] {_shorten(step.group(3))}")
            return
        tail.append(line)
        if line.strip() == "---> Using cache" and steps:
            steps[-1].cached = True
            progress(f"  [{source.name} {steps[-1].number}] cached")
        elif verbose or line.startswith(NOTE_PREFIX):
            progress(f"    {line}")

    try:
        output = client.api.build(
            path=str(source.context),
            dockerfile=str(source.dockerfile.relative_to(source.context)),
            tag=source.ref(),
            buildargs=build_args,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in output:
            if "error" in chunk:
                raise BuildError(_failure_message(source, steps, chunk["error"], tail))
            lines = _COLOUR_CODES.sub("", pending + chunk.get("stream", "")).split("\n")
            pending = lines.pop()
            for line in lines:
                if line.strip():
                    handle_line(line.rstrip())
    except APIError as error:
        raise BuildError(_failure_message(source, steps, str(error), tail)) from error
    finish_step()

    image = client.images.get(source.ref())
    for tag in extra_tags:
        image.tag(f"{REPOSITORY}/{source.name}", tag)
    return BuildResult(
        name=source.name,
        tags=(source.ref(), *(source.ref(tag) for tag in extra_tags)),
        image_id=image.id,
        size_bytes=image.attrs["Size"],
        seconds=time.monotonic() - started,
        steps=tuple(steps),
    )


def _failure_message(source: ImageSource, steps: list[BuildStep], error: str, tail: Iterable[str]) -> str:
    where = f"step {steps[-1].number} `{steps[-1].instruction}`" if steps else "the start"
    output = "\n".join(f"    {line}" for line in tail)
    return f"building {source.name} failed at {where}: {error.strip()}" + (
        f"\n  last output:\n{output}" if output else ""
    )


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True


def _shorten(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0]
