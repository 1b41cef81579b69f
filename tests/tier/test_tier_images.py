"""The tier's images as the maintainers' tool builds them: not desktops, not root."""

from __future__ import annotations

import docker
import pytest

from broker.images.catalog import catalog_images


@pytest.mark.parametrize(("name", "user"), [("guacd", "guacd"), ("websockify", "websockify")])
def test_image_runs_as_a_user_with_a_healthcheck(
    engine: docker.DockerClient, tier_images, name: str, user: str
) -> None:
    config = engine.images.get(tier_images[name].image_id).attrs["Config"]
    assert config["User"] == user
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["Labels"]["io.deskbroker.tier"] == name


def test_tier_images_are_not_desktop_types(engine: docker.DockerClient, tier_images) -> None:
    listed = {image.ref for image in catalog_images(engine)}
    assert "deskbroker/base:latest" in listed
    assert not {"deskbroker/guacd:latest", "deskbroker/websockify:latest"} & listed
