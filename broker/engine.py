"""The container engine as every package meets it: connecting to Docker, and what goes wrong there.

The images and the desktops both work on the engine; its errors live here, below both.
"""

from __future__ import annotations

import os

import docker
import requests
from docker.errors import DockerException

from broker.errors import Failed, Unavailable


class ProviderError(Failed):
    """The engine could not do what was asked; the message is for people."""

    code = "engine_error"


class EngineUnavailable(Unavailable, ProviderError):
    """No engine answers."""

    code = "engine_unavailable"
    retry_after = 30


def docker_client(base_url: str | None = None, timeout: int = 600) -> docker.DockerClient:
    """A client for the engine at `base_url`, else as DOCKER_HOST & co. say, else the local socket.

    The long default timeout covers image builds and imports, which stream for minutes.
    """
    where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        if base_url:
            client = docker.DockerClient(base_url=base_url, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        client.ping()
    except (DockerException, requests.RequestException) as error:
        raise EngineUnavailable(
            f"no Docker engine reachable at {where} ({error}); install and start one with scripts/ensure-docker.sh"
        ) from error
    return client
