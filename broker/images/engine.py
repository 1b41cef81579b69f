"""Connecting to the Docker engine, with an error that says what to do when there is none."""

from __future__ import annotations

import os

import docker
import requests
from docker.errors import DockerException


class EngineUnavailable(RuntimeError):
    """No Docker engine answers."""


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
            f"no Docker engine reachable at {where} ({error}); "
            "install and start one with scripts/ensure-docker.sh"
        ) from error
    return client
