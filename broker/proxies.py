"""Who the client is behind reverse proxies: X-Forwarded-* is believed only from configured proxies.

Anyone can send X-Forwarded-For. Counting proxies (werkzeug's ProxyFix alone) believes the last
hops whoever sent them, so a client reaching the broker directly could pick the address that
throttling and the audit log see. Here the chain is walked from the socket's peer towards the
client: each hop is believed only while the address before it is a configured proxy.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_EVERY = 30.0  # seconds a proxy's host name stays resolved (a container may get a new address)
MAX_HOPS = 8


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """DESKBROKER_TRUSTED_PROXIES: addresses, networks and host names (resolved, cached briefly)."""

    def __init__(self, entries: Iterable[str], resolve: Callable[[str], set[str]] | None = None):
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: list[str] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.append(entry)
        self._resolve = resolve or _resolve
        self._resolved: set[Address] = set()
        self._resolved_at = float("-inf")

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)

    def trusts(self, text: str) -> bool:
        address = _address(text)
        if address is None:
            return False
        if any(address in network for network in self.networks):
            return True
        return bool(self.names) and address in self._names_resolved()

    def _names_resolved(self) -> set[Address]:
        if time.monotonic() - self._resolved_at > RESOLVE_EVERY:
            resolved: set[Address] = set()
            for name in self.names:
                resolved |= {a for a in map(_address, self._resolve(name)) if a is not None}
            self._resolved, self._resolved_at = resolved, time.monotonic()
        return self._resolved


def _resolve(name: str) -> set[str]:
    try:
        return {info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
    except OSError as exc:  # not there (yet): e.g. the stack's nginx is not running
        log.debug("trusted proxy %s does not resolve: %s", name, exc)
        return set()


def believed_client(peer: str, forwarded_for: str, proxies: TrustedProxies) -> tuple[str, int]:
    """(client address, how many proxies vouched for the chain up to it)."""
    chain = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    hops, client = 0, peer
    while chain and hops < MAX_HOPS and proxies.trusts(client):
        hop = chain.pop()
        address = _address(hop)
        if address is None:
            break  # garbage a proxy passed on: the last good hop stands
        client, hops = str(address), hops + 1
    return client, hops


class ForwardedByTrustedProxies:
    """WSGI middleware: X-Forwarded-For/-Proto/-Host/-Port/-Prefix as far as trusted proxies set them;
    from anyone else they are ignored and REMOTE_ADDR stays the socket's peer."""

    def __init__(self, app: Callable, proxies: TrustedProxies):
        self.app, self.proxies = app, proxies
        self._fixers: dict[int, ProxyFix] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        client, hops = believed_client(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR", ""), self.proxies
        )
        if not hops:
            return self.app(environ, start_response)
        if hops not in self._fixers:  # the other headers: werkzeug's, with the hop count found here
            self._fixers[hops] = ProxyFix(self.app, x_for=0, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
        environ["REMOTE_ADDR"] = client
        return self._fixers[hops](environ, start_response)
