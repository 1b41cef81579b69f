"""`broker images ...`: build, smoke-test and list the desktop images."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from docker.errors import DockerException

from broker.engine import EngineUnavailable, docker_client
from broker.images.build import (
    DEFAULT_DEBIAN_IMAGE,
    IMAGE_DIRS,
    REPOSITORY,
    BuildError,
    build_images,
)
from broker.images.catalog import LabelError, catalog_images
from broker.images.smoke import image_ref, smoke_test_images
from broker.images.table import format_table, megabytes

Command = TypeVar("Command", bound=Callable[..., None])


def clear_errors(command: Command) -> Command:
    """Show the tool's own errors as one clear message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except (EngineUnavailable, BuildError, LabelError) as error:
            raise click.ClickException(str(error)) from error
        except DockerException as error:
            raise click.ClickException(f"Docker engine: {error}") from error

    return wrapper  # type: ignore[return-value]


def parse_build_args(_context: click.Context, _parameter: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, separator, setting = value.partition("=")
        if not separator or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        pairs[key] = setting
    return pairs


@click.group("images")
def images() -> None:
    """Build, smoke-test and list the desktop images (build also makes the guacd tier's)."""


@images.command("build")
@click.argument("names", nargs=-1)
@click.option(
    "--base-image",
    envvar="DESKBROKER_DEBIAN_IMAGE",
    default=DEFAULT_DEBIAN_IMAGE,
    show_default=True,
    help="Debian bookworm image to build on (other suites: debian:<suite>-slim); "
    "made with debootstrap when it cannot be pulled.",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    callback=parse_build_args,
    help="Passed to the images whose Dockerfile declares the ARG, e.g. INSTALL_VSCODE=1.",
)
@click.option(
    "--images-dir",
    "images_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    default=IMAGE_DIRS,
    show_default=True,
    help="Folders whose subfolders with a Dockerfile are images (repeatable).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every line of build output.")
@clear_errors
def build_command(
    names: tuple[str, ...],
    base_image: str,
    build_args: dict[str, str],
    images_dirs: tuple[Path, ...],
    verbose: bool,
) -> None:
    """Build NAMES (default: all) and the images they are built on."""
    results = build_images(
        docker_client(),
        names,
        images_dir=images_dirs,
        debian_image=base_image,
        build_args=build_args,
        progress=click.echo,
        verbose=verbose,
    )
    rows = [
        [
            result.tags[0],
            megabytes(result.size_bytes),
            f"{result.seconds:.1f} s",
            f"{len(result.rebuilt_steps)} of {len(result.steps)}",
        ]
        for result in results
    ]
    click.echo()
    click.echo(format_table(["image", "size", "build time", "steps run"], rows))


@images.command("test")
@click.argument("names", nargs=-1)
@clear_errors
def test_command(names: tuple[str, ...]) -> None:
    """Smoke-test NAMES (default: every local deskbroker/* catalog image)."""
    client = docker_client()
    refs = [image_ref(name) for name in names] or [
        found.ref for found in catalog_images(client) if found.ref.startswith(f"{REPOSITORY}/")
    ]
    if not refs:
        raise click.ClickException("no desktop images found: run `broker images build` first")
    results = smoke_test_images(client, refs, progress=click.echo)

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    rows = [
        [
            result.image,
            megabytes(result.size_bytes),
            seconds(result.greeting_seconds),
            "-" if result.idle_mib is None else f"{result.idle_mib:.0f}",
            seconds(result.stop_seconds),
            "ok" if result.ok else "FAILED",
        ]
        for result in results
    ]
    click.echo()
    click.echo(format_table(["image", "size", "greeting s", "idle MiB", "stop s", "result"], rows))
    failures = [f"{result.image}: {result.failure}" for result in results if not result.ok]
    if failures:
        raise click.ClickException("smoke test failed:\n" + "\n".join(failures))


@images.command("list")
@clear_errors
def list_command() -> None:
    """Local images that carry the catalog labels."""
    found = catalog_images(docker_client())
    if not found:
        click.echo("no desktop images found: run `broker images build`")
        return
    rows = [
        [
            image.ref,
            image.entry.id if image.entry else "-",
            image.entry.title.en if image.entry else f"INVALID: {image.error}",
            str(image.entry.min_memory_mb) if image.entry else "-",
            megabytes(image.size_bytes),
            ", ".join(tag.rpartition(":")[2] for tag in image.tags),
        ]
        for image in found
    ]
    click.echo(format_table(["image", "id", "title", "min MiB", "size", "tags"], rows))
    invalid = [image for image in found if image.error]
    if invalid:
        raise click.ClickException(f"{len(invalid)} image(s) have invalid catalog labels")
