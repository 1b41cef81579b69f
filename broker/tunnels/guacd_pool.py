"""Several guacd instances, each tunnel opened on the one with the shortest queue.

guacd takes handshakes one at a time (guacd.handshake_turn): more processes, more turns at once.
The instances are DESKBROKER_GUACD_HOSTS (host:port, ...) or DESKBROKER_GUACD_HOST, each name
standing for every address it resolves to (compose `replicas`, a Swarm service's tasks), looked up
again every RESOLVE_SECONDS. An instance whose TCP connect fails is left out, the tunnel tries
another, and a health check (a TCP connect every HEALTH_CHECK_SECONDS) lets it back in (or a
tunnel's own connect, when every instance is left out).

The queue is this process's count of tunnels waiting for an instance's turn or in its handshake.
Other broker processes keep their own counts (the file lock only orders the turns), and each
starts its ties at a random instance, so workers do not all pile on the first.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from broker.config import TierSettings
from broker.tunnels.guacd import (
    CLIENT_TIMEOUT,
    UPSTREAM_NOT_FOUND,
    GuacdConnection,
    GuacdError,
    GuacdUnreachable,
    Screen,
    VncTarget,
    handshake,
    handshake_turn,
)

log = logging.getLogger(__name__)

RESOLVE_SECONDS = 10.0
HEALTH_CHECK_SECONDS = 2.0
HEALTH_CONNECT_TIMEOUT = 1.0


class ViewerLeft(GuacdError):
    """The viewer went away while its tunnel waited for a turn: the turn goes to the next one."""


@dataclass(eq=False)
class Instance:
    host: str
    port: int
    queue: int = 0  # this process's tunnels waiting for its turn or in its handshake
    down: bool = False  # left out until a health check passes

    @property
    def name(self) -> str:
        """As the connection log keeps it, for watchers who must join there."""
        return f"{self.host}:{self.port}"


def parse_address(entry: str, default_port: int) -> tuple[str, int]:
    """'guacd', 'guacd:4823', '10.0.0.5:4822', '[fd00::5]:4822' -> (host, port)."""
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, default_port


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` stands for, in a stable order; the name itself when it does not resolve
    (the connect then fails and says so)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return [host]
    return sorted({info[4][0] for info in infos})


class GuacdPool:
    def __init__(self, addresses: list[tuple[str, int]], resolver=resolve):
        self.addresses, self.resolver = addresses, resolver
        self._known: dict[tuple[str, int], Instance] = {}
        self._current: list[Instance] = []
        self._resolved_at = float("-inf")
        self._lock = threading.Lock()
        self._ties = random.randrange(1 << 16)
        self._checking = False

    @classmethod
    def from_settings(cls, tier: TierSettings) -> GuacdPool:
        entries = tier.guacd_hosts or (tier.guacd_host,)
        return cls([parse_address(entry, tier.guacd_port) for entry in entries])

    def instances(self) -> list[Instance]:
        """The instances the names stand for now (up or down)."""
        if time.monotonic() - self._resolved_at >= RESOLVE_SECONDS or not self._current:
            self._resolved_at = time.monotonic()  # one looks the names up; the others go on meanwhile
            found = [(address, port) for host, port in self.addresses for address in self.resolver(host, port)]
            with self._lock:
                self._current = [self._instance(address, port) for address, port in found]
        with self._lock:
            return list(self._current)

    def _instance(self, host: str, port: int) -> Instance:
        return self._known.setdefault((host, port), Instance(host, port))

    def named(self, name: str) -> Instance:
        """The instance the connection log names (it may no longer be among those resolved)."""
        host, port = parse_address(name, 0)
        with self._lock:
            return self._instance(host, port)

    def choose(
        self, leave_out: set[Instance] = frozenset(), beside: Callable[[Instance], bool] | None = None
    ) -> Instance | None:
        """The instance with the shortest queue, of those up (and not left out); when all are down, of
        those (a tunnel's connect is a health check too: one guacd restarted is used at once). Of equal
        queues, one `beside` the desktop (on its node). Its queue counts the tunnel from now on
        (release() when its handshake is over)."""
        untried = [i for i in self.instances() if i not in leave_out]
        candidates = [i for i in untried if not i.down] or untried
        if not candidates:
            return None
        far = {instance for instance in candidates if beside and not beside(instance)}  # (may ask the engine)
        with self._lock:
            self._ties += 1
            start = self._ties % len(candidates)
            rotated = candidates[start:] + candidates[:start]
            chosen = min(rotated, key=lambda instance: (instance.queue, instance in far))
            chosen.queue += 1
            return chosen

    def release(self, instance: Instance) -> None:
        with self._lock:
            instance.queue -= 1

    def open(
        self,
        target: VncTarget,
        screen: Screen,
        *,
        read_only: bool = False,
        join: tuple[str, str] | None = None,
        name: str = "",
        recording: str | None = None,
        timeout: float = 10.0,
        abandoned: Callable[[], bool] = lambda: False,
        beside: Callable[[Instance], bool] | None = None,
    ) -> tuple[GuacdConnection, Instance]:
        """A new connection on the instance with the shortest queue (another when one is away), or a
        join (`join` = (guacd's connection id, the instance's name)) on the instance that holds it.
        `recording`: the file name guacd records it under (None: not recorded). ViewerLeft when
        `abandoned()` says so once its turn came. `beside`: whether an instance is on the desktop's node."""
        options = (read_only, name, recording, timeout, abandoned)
        join_id, holder = join or (None, "")
        if holder:
            instance = self.named(holder)
            with self._lock:
                instance.queue += 1
            return self._open_on(instance, target, screen, join_id, *options), instance
        tried: set[Instance] = set()  # (a join logged before the pool kept its instance: where it may)
        while True:
            instance = self.choose(tried, beside)
            if instance is None:
                raise GuacdUnreachable(
                    "no guacd instance answers (" + ", ".join(i.name for i in self.instances()) + ")",
                    UPSTREAM_NOT_FOUND,
                )
            try:
                return self._open_on(instance, target, screen, join_id, *options), instance
            except GuacdUnreachable as exc:
                log.warning("%s: left out until it answers again", exc)
                self.mark_down(instance)
                tried.add(instance)

    def _open_on(
        self, instance, target, screen, join, read_only, name, recording, timeout, abandoned
    ) -> GuacdConnection:
        asked = time.monotonic()
        try:
            was_down = instance.down
            with handshake_turn(instance.host, instance.port):
                if abandoned():  # a class's queue is long enough without handshakes nobody waits for
                    raise ViewerLeft("the viewer left while its tunnel waited for guacd", CLIENT_TIMEOUT)
                if instance.down and not was_down:  # found away while this tunnel waited: try another
                    raise GuacdUnreachable(f"guacd at {instance.name} is away", UPSTREAM_NOT_FOUND)
                turn_wait = time.monotonic() - asked
                connection = handshake(
                    instance.host, instance.port, target, screen, read_only, join, name, recording, timeout
                )
            instance.down = False
        finally:
            self.release(instance)
        connection.turn_wait_seconds = turn_wait
        return connection

    def mark_down(self, instance: Instance) -> None:
        with self._lock:
            instance.down = True
            start, self._checking = not self._checking, True
        if start:
            threading.Thread(target=self._check_until_all_up, name="guacd health check", daemon=True).start()

    def check_down(self) -> None:
        """Let back in each instance left out that takes a TCP connection again."""
        for instance in [i for i in self.instances() if i.down]:
            try:
                socket.create_connection((instance.host, instance.port), timeout=HEALTH_CONNECT_TIMEOUT).close()
            except OSError:
                continue
            instance.down = False
            log.warning("guacd at %s answers again: back in the pool", instance.name)

    def _check_until_all_up(self) -> None:
        while True:
            time.sleep(HEALTH_CHECK_SECONDS)
            self.check_down()
            with self._lock:  # one gone for good (no longer resolved) is not waited for
                if not any(i.down for i in self._current):
                    self._checking = False
                    return


_pools: dict[tuple, GuacdPool] = {}
_pools_guard = threading.Lock()


def pool_for(tier: TierSettings) -> GuacdPool:
    """This process's pool for these settings (its queues and health are per process)."""
    key = (tier.guacd_hosts, tier.guacd_host, tier.guacd_port)
    with _pools_guard:
        if key not in _pools:
            _pools[key] = GuacdPool.from_settings(tier)
        return _pools[key]
