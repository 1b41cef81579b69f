"""A pool of guacd: each tunnel on the instance with the shortest queue, an instance that does not
answer left out (the tunnel goes to another) until its health check passes, a name standing for
every address it resolves to, and a watcher's join on the instance that holds the connection.
Against guacd stand-ins on loopback addresses (127.0.0.2 has nobody listening until one starts)."""

from __future__ import annotations

import time

import pytest

from broker.tunnels import guacd_pool
from broker.tunnels.guacd import UPSTREAM_NOT_FOUND, GuacdUnreachable, Screen, VncTarget
from broker.tunnels.guacd_pool import GuacdPool, Instance, parse_address
from tests.fixtures.broker import free_port, make_settings
from tests.fixtures.fake_guacd import FakeGuacd

TARGET = VncTarget("10.0.0.9", 5901, "pw")


def open_one(pool: GuacdPool, **options) -> str:
    connection, instance = pool.open(TARGET, Screen(), **options)
    connection.close()
    return instance.name


@pytest.mark.parametrize(
    "entry, address",
    [
        ("guacd", ("guacd", 4822)),
        ("guacd:4823", ("guacd", 4823)),
        (" 10.0.0.5:4824 ", ("10.0.0.5", 4824)),
        ("[fd00::5]:4825", ("fd00::5", 4825)),
        ("[fd00::5]", ("fd00::5", 4822)),
    ],
)
def test_addresses_with_and_without_a_port(entry, address):
    assert parse_address(entry, 4822) == address


def test_the_settings_name_the_pool_and_a_name_stands_for_each_of_its_addresses():
    listed = GuacdPool.from_settings(make_settings(guacd_hosts="10.0.0.5:4822, 10.0.0.6", guacd_port="4823").tier)
    assert [i.name for i in listed.instances()] == ["10.0.0.5:4822", "10.0.0.6:4823"]
    alone = GuacdPool.from_settings(make_settings(guacd_host="10.0.0.7").tier)
    assert [i.name for i in alone.instances()] == ["10.0.0.7:4822"]
    replicas = GuacdPool([("guacd", 4822)], resolver=lambda host, port: ["172.20.0.3", "172.20.0.4"])
    assert [i.name for i in replicas.instances()] == ["172.20.0.3:4822", "172.20.0.4:4822"]


def test_each_tunnel_goes_to_the_instance_with_the_shortest_queue():
    pool = GuacdPool([("10.0.0.1", 4822), ("10.0.0.2", 4822), ("10.0.0.3", 4822)])
    waiting = [pool.choose() for _ in range(6)]  # six tunnels waiting for their turns at once
    assert sorted(i.queue for i in pool.instances()) == [2, 2, 2]
    pool.release(waiting[0])  # one handshake done: the next tunnel goes where it was
    assert pool.choose() is waiting[0]
    pool.instances()[1].down = True
    assert all(pool.choose().name != "10.0.0.2:4822" for _ in range(5))  # one away is left out


def test_of_equal_queues_the_guacd_on_the_desktops_node_is_taken_and_a_shorter_queue_wins():
    pool = GuacdPool([("10.0.0.1", 4822), ("10.0.0.2", 4822), ("10.0.0.3", 4822)])

    def beside(instance: Instance) -> bool:  # the desktop's node runs 10.0.0.2
        return instance.host == "10.0.0.2"

    for _ in range(5):  # idle: the node's own, whichever instance the ties start at
        own = pool.choose(beside=beside)
        assert own.name == "10.0.0.2:4822"
        pool.release(own)
    own = pool.choose(beside=beside)  # a tunnel in its handshake there: the shortest queue comes first
    assert pool.choose(beside=beside).name != "10.0.0.2:4822"
    pool.release(own)
    pool.instances()[1].down = True
    assert pool.choose(beside=beside).name != "10.0.0.2:4822"  # away: one on another node


def test_idle_instances_share_the_tunnels_that_come_one_after_another():
    first, second = FakeGuacd(), FakeGuacd(address=("127.0.0.2", 0))
    pool = GuacdPool([("127.0.0.1", first.port), ("127.0.0.2", second.port)])
    used = [open_one(pool) for _ in range(6)]
    assert sorted(set(used)) == [f"127.0.0.1:{first.port}", f"127.0.0.2:{second.port}"]
    assert len(first.handshakes) == len(second.handshakes) == 3


def test_an_instance_that_does_not_answer_is_left_out_until_its_health_check_passes(monkeypatch):
    monkeypatch.setattr(guacd_pool, "HEALTH_CHECK_SECONDS", 0.1)
    up, port = FakeGuacd(), free_port()
    pool = GuacdPool([("127.0.0.1", up.port), ("127.0.0.2", port)])
    used = {open_one(pool) for _ in range(4)}
    assert used == {f"127.0.0.1:{up.port}"}  # the tunnel that found it away went on to the other
    away = pool.named(f"127.0.0.2:{port}")
    assert away.down and away.queue == 0
    came_back = FakeGuacd(address=("127.0.0.2", port))
    deadline = time.monotonic() + 5
    while away.down and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not away.down  # the health check let it back in
    assert f"127.0.0.2:{port}" in {open_one(pool) for _ in range(4)}
    assert came_back.handshakes


def test_with_every_instance_away_the_tunnel_is_refused_and_one_back_is_used_at_once():
    port = free_port()
    pool = GuacdPool([("127.0.0.2", port)])
    with pytest.raises(GuacdUnreachable) as refused:
        open_one(pool)
    assert refused.value.status == UPSTREAM_NOT_FOUND and "no guacd instance answers" in str(refused.value)
    FakeGuacd(address=("127.0.0.2", port))
    assert open_one(pool) == f"127.0.0.2:{port}"  # without waiting for the health check


def test_a_watcher_joins_on_the_instance_that_holds_the_connection():
    first, second = FakeGuacd(), FakeGuacd(address=("127.0.0.2", 0))
    pool = GuacdPool([("127.0.0.1", first.port), ("127.0.0.2", second.port)])
    for _ in range(3):
        holder = open_one(pool, join=("$owner", f"127.0.0.2:{second.port}"), read_only=True)
        assert holder == f"127.0.0.2:{second.port}"
    assert [h[0] for h in second.handshakes] == [["select", "$owner"]] * 3 and not first.handshakes
    assert all(isinstance(i, Instance) and i.queue == 0 for i in pool.instances())


def test_a_join_logged_without_its_instance_goes_where_a_new_tunnel_would():
    guacd = FakeGuacd()
    pool = GuacdPool([("127.0.0.1", guacd.port)])
    assert open_one(pool, join=("$owner", ""), read_only=True) == f"127.0.0.1:{guacd.port}"
    assert guacd.handshakes[0][0] == ["select", "$owner"]
