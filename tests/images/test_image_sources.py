"""How the image tool finds images: desktops under images/, the tier under guacd/."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.images.build import (
    IMAGES_DIR,
    REPOSITORY_ROOT,
    TIER_DIR,
    BuildError,
    build_order,
    discover,
)


def test_desktops_and_tier_images_are_found() -> None:
    sources = discover()
    assert {"base", "xfce", "guacd", "websockify"} <= set(sources)
    assert sources["xfce"].parent == "base"
    assert sources["base"].context == IMAGES_DIR / "base"


def test_guacd_builds_on_bullseye_in_its_own_folder() -> None:
    guacd = discover()["guacd"]
    assert (guacd.parent, guacd.debian_suite) == (None, "bullseye")
    assert guacd.context == TIER_DIR / "guacd"


def test_websockify_builds_from_the_repository_root() -> None:
    """It copies the token codec from broker/tunnels/."""
    websockify = discover()["websockify"]
    assert websockify.debian_suite == "bookworm"
    assert websockify.context == REPOSITORY_ROOT
    assert websockify.dockerfile == TIER_DIR / "websockify" / "Dockerfile"


def test_tier_images_are_not_desktop_types() -> None:
    for name in ("guacd", "websockify"):
        assert "io.deskbroker.catalog." not in (TIER_DIR / name / "Dockerfile").read_text()


def test_a_name_in_two_folders_is_an_error(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder / "same").mkdir(parents=True)
        (tmp_path / folder / "same" / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(BuildError, match="two images named 'same'"):
        discover([tmp_path / "one", tmp_path / "two"])


def test_suite_defaults_to_bookworm(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "Dockerfile").write_text("ARG BASE_IMAGE=example/os:1\nFROM ${BASE_IMAGE}\n")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "Dockerfile").write_text(
        "ARG BASE_IMAGE=registry.example/debian:bullseye-slim\nFROM ${BASE_IMAGE}\n"
    )
    sources = discover(tmp_path)
    assert sources["plain"].debian_suite == "bookworm"
    assert sources["old"].debian_suite == "bullseye"
    assert [source.name for source in build_order(sources, [])] == ["old", "plain"]
