"""Whose X-Forwarded-For is believed: the chain is walked from the socket's peer while each hop is a
configured proxy (the live broker's side: tests/app/test_proxies_and_origins.py)."""

import pytest

from broker.proxies import TrustedProxies, believed_client

PROXIES = TrustedProxies(
    ["10.0.0.0/24", "192.0.2.1", "proxy.internal"],
    resolve=lambda name: {"10.9.9.9", "::ffff:10.9.9.10"} if name == "proxy.internal" else set(),
)


@pytest.mark.parametrize(
    "peer, forwarded_for, client, hops",
    [
        ("203.0.113.7", "198.51.100.1", "203.0.113.7", 0),  # no proxy: the header is ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1", 1),  # a proxy by network
        ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1", 1),  # what the client wrote before is not
        ("10.9.9.9", "198.51.100.1, 192.0.2.1", "198.51.100.1", 2),  # by name, then by address
        ("10.9.9.10", "198.51.100.1", "198.51.100.1", 1),  # a name resolving to a mapped IPv4
        ("::ffff:10.0.0.5", "2001:db8::1", "2001:db8::1", 1),  # the peer as an IPv4-mapped address
        ("10.0.0.5", "", "10.0.0.5", 0),  # a proxy sending none: itself
        ("10.0.0.5", "not-an-address", "10.0.0.5", 0),  # garbage: the last good hop
        ("10.0.0.5", "198.51.100.1, junk", "10.0.0.5", 0),
        ("10.0.0.5", "10.0.0.6, 10.0.0.7", "10.0.0.6", 2),  # all proxies: the leftmost
    ],
)
def test_the_client_is_the_first_hop_no_proxy_vouches_for_beyond(peer, forwarded_for, client, hops):
    assert believed_client(peer, forwarded_for, PROXIES) == (client, hops)


def test_a_long_chain_of_proxies_is_cut_short():
    client, hops = believed_client("10.0.0.1", ", ".join(f"10.0.0.{n}" for n in range(2, 40)), PROXIES)
    assert hops == 8 and client == "10.0.0.32"
