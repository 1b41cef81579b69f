"""What a container uses, as `docker stats` counts it: memory without the page cache the kernel may
drop, and CPU time (for a share of a core over a window). Shared by the load test, the compose
stack's figures and the capacity benchmark."""

from __future__ import annotations

import docker


def memory_mib(client: docker.DockerClient, ref: str) -> float:
    memory = client.api.stats(ref, stream=False, one_shot=True)["memory_stats"]
    stats = memory.get("stats", {})
    cache = stats.get("inactive_file", stats.get("total_inactive_file", stats.get("cache", 0)))
    return (memory["usage"] - cache) / 2**20


def cpu_seconds(client: docker.DockerClient, ref: str) -> float:
    """CPU time the container used so far (user and system, all its processes)."""
    return client.api.stats(ref, stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
