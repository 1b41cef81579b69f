"""A desktop reaches nothing but its own screen, whatever its image does.

The rules live in the desktop's own network namespace, where its processes can never change
them: desktops run without NET_ADMIN (and without NET_RAW). A provider starts a desktop with no
network at all, has a short-lived helper container (the `netguard` image, NET_ADMIN only,
sharing that namespace) load the rules, and only then connects it to the desktop network (and,
for egress, to the egress network). So there is no moment in which the desktop is on a network
without its rules, and an image made without our init is held just the same.

What the rules allow:
- in: loopback; replies; new TCP connections to the desktop's own ports (VNC, sound) from
  the desktop network, which only the tier and the broker open (every desktop refuses itself
  any new connection into that network);
- out: loopback (the engine's DNS answers there); replies; and by egress mode
  `none` nothing, `internet` public addresses only, `proxy` the admin's HTTP proxy only.
IPv6 is refused whole (desktop networks carry none).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass

EGRESS_MODES = ("none", "internet", "proxy")

# Never "public": this network, loopback, private and shared (CGNAT) ranges, link-local, IETF
# protocol assignments, benchmarking, multicast, reserved, broadcast. The documentation ranges
# are left public on purpose (nothing routes them; the isolation tests use them as "the internet").
NON_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)

HOST_ADDRESSES_TTL = 60.0  # seconds a look at the host's own addresses is trusted


@dataclass(frozen=True)
class Policy:
    """What one desktop may do on the network."""

    ports: tuple[int, ...]  # TCP ports the tier opens into the desktop (VNC, sound)
    sources: tuple[str, ...]  # the desktop network's subnets: where those connections come from
    egress: str = "none"
    proxy: tuple[tuple[str, int], ...] = ()  # (address, port) of the HTTP proxy, for `proxy`
    deny: tuple[str, ...] = ()  # more addresses `internet` refuses: the host's own, the admin's list


def rules_v4(policy: Policy) -> str:
    """The filter table for iptables-restore."""
    lines = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    ]
    ports = ",".join(str(port) for port in sorted(set(policy.ports)))
    for source in policy.sources:
        lines.append(f"-A INPUT -s {source} -p tcp -m multiport --dports {ports} -m conntrack --ctstate NEW -j ACCEPT")
    lines += ["-A OUTPUT -o lo -j ACCEPT", "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    if policy.egress == "internet":
        for blocked in (*NON_PUBLIC_V4, *policy.deny):
            lines.append(f"-A OUTPUT -d {blocked} -j REJECT --reject-with icmp-net-prohibited")
        lines.append("-A OUTPUT -j ACCEPT")
    elif policy.egress == "proxy":
        for address, port in policy.proxy:
            lines.append(f"-A OUTPUT -d {address} -p tcp --dport {port} -j ACCEPT")
    # Refused rather than dropped: a program that tries learns at once, and a person sees why.
    lines += [
        "-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset",
        "-A OUTPUT -j REJECT --reject-with icmp-admin-prohibited",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def rules_v6() -> str:
    return (
        "\n".join(
            [
                "*filter",
                ":INPUT DROP [0:0]",
                ":FORWARD DROP [0:0]",
                ":OUTPUT DROP [0:0]",
                "-A INPUT -i lo -j ACCEPT",
                "-A OUTPUT -o lo -j ACCEPT",
                "COMMIT",
            ]
        )
        + "\n"
    )


def resolve(host: str, port: int) -> tuple[tuple[str, int], ...]:
    """The IPv4 addresses of the proxy as the broker resolves it (the rules need addresses)."""
    try:
        found = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise LookupError(f"the egress proxy {host} cannot be resolved: {error}") from error
    return tuple(sorted({(info[4][0], port) for info in found}))


def parse_host_addresses(ip_addr_output: str) -> tuple[str, ...]:
    """The IPv4 addresses in `ip -o addr show` output, as /32 networks."""
    found = set()
    for line in ip_addr_output.splitlines():
        words = line.split()
        if "inet" in words:
            address = words[words.index("inet") + 1].split("/")[0]
            found.add(str(ipaddress.ip_network(f"{address}/32")))
    return tuple(sorted(found))


class HostAddresses:
    """The engine host's own addresses, looked up through `lookup` and kept for a minute."""

    def __init__(self, lookup):
        self._lookup = lookup
        self._cached: tuple[str, ...] | None = None
        self._when = 0.0

    def get(self) -> tuple[str, ...]:
        if self._cached is None or time.monotonic() - self._when > HOST_ADDRESSES_TTL:
            self._cached, self._when = parse_host_addresses(self._lookup()), time.monotonic()
        return self._cached
