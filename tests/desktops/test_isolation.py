"""The hostile desktop (#12): from a shell inside real desktops, as their user, try everything.

Real desktops started by the broker's lifecycle on a real engine (Docker, then Swarm), one per
egress mode, next to a neighbour desktop, guacd, websockify and `broker serve` in a container's
network namespace (as in the compose stack). Each attacker tries the neighbour's VNC and sound ports and
another port it listens on, guacd, websockify, the broker, the host through every gateway and
its own address, and the suite's "public" and "private" test hosts (isolation_hosts.py). Every
try is a row of the reliability report; the positive controls (guacd still reaches the
desktop's screen and sound server, each listener answers where it should) are rows too.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

import pytest
import requests

from broker.desktops import make_provider
from broker.desktops.provider import BROKER_LABEL
from broker.images.catalog import SOUND_PORT
from broker.models import Desktop, DesktopType
from tests.desktops.isolation_hosts import HELLO_PORT, PROXY_PORT, host_listener, link, namespace_host
from tests.fixtures.desktops import (
    containers_of,
    desktop_overrides,
    lifecycle_of,
    run_beside_desktops,
    run_guacd,
    sign_in,
    start_broker_in,
)

MODES = ("none", "internet", "proxy")
NEIGHBOUR_PORT = 8080
# One database is enough here: the rules are the engine's business, not the database's.
pytestmark = [pytest.mark.reliability, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

# Connect to each HOST:PORT argument; print "HOST:PORT open <first line>" or "HOST:PORT closed".
PROBE = r"""
use IO::Socket::INET;
for my $target (@ARGV) {
    my ($host, $port) = split /:/, $target;
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => "tcp", Timeout => 3);
    if (!$s) { print "$target closed\n"; next }
    $s->blocking(1); my $line = "";
    eval { local $SIG{ALRM} = sub { die }; alarm 2; $line = <$s> // ""; alarm 0 };
    chomp $line; print "$target open $line\n";
}
"""
# Through the HTTP proxy PROXY (CONNECT), fetch the first line of TARGET.
VIA_PROXY = r"""
use IO::Socket::INET;
my ($proxy, $target) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => $proxy, Proto => "tcp", Timeout => 3) or do { print "closed\n"; exit };
print $s "CONNECT $target HTTP/1.1\r\nHost: $target\r\n\r\n";
my $status = <$s>; while (my $l = <$s>) { last if $l eq "\r\n" }
my $line = <$s> // ""; print "$status$line";
"""
LISTEN = r"""
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1) or die "listen: $!";
while (my $c = $s->accept) { print $c "hello neighbour\n"; close $c }
"""


@pytest.fixture(scope="module")
def test_hosts():
    with (
        namespace_host("public", "198.51.100") as public,
        namespace_host("private", "10.213.77", proxy=True) as private,
        host_listener() as host_port,
    ):
        link(private, public, "10.213.78")  # the proxy's way to "the internet"
        yield public, private, host_port


def run(container, script: str, *args: str, user: str = "1000") -> str:
    result = container.exec_run(["perl", "-e", script, *args], user=user)
    return result.output.decode(errors="replace")


def probe(container, targets: dict[str, str], user: str = "1000") -> dict[str, str]:
    """{name: "open <line>" | "closed"} for {name: "host:port"}, tried from inside `container`."""
    lines = run(container, PROBE, *targets.values(), user=user).splitlines()
    found = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines if " " in line}
    return {name: found.get(target, "no answer") for name, target in targets.items()}


def host_addresses() -> list[str]:
    output = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return [
        line.split()[3].split("/")[0]
        for line in output.splitlines()
        if line.split()[1] != "lo" and not line.split()[1].startswith(("docker", "br-", "veth", "dbt"))
    ]


def desktop_container(docker_engine, instance: str, desktop_id: str):
    running = [c for c in containers_of(docker_engine, instance, desktop_id) if c.status == "running"]
    assert len(running) == 1, f"one running container for desktop {desktop_id}, found {running}"
    return running[0]


def gateways(docker_engine, network: str) -> list[str]:
    configs = docker_engine.api.inspect_network(network)["IPAM"]["Config"] or []
    return [config["Gateway"] for config in configs if config.get("Gateway")]


@pytest.mark.parametrize("provider", ["docker", "swarm"])
def test_a_desktop_reaches_nothing_but_its_own_screen(
    provider, request, desktop_app, docker_engine, instance, database_url, test_hosts, figures, tmp_path
):
    if provider == "swarm":
        request.getfixturevalue("swarm")
    public, private, host_port = test_hosts
    wanted_settings = {"desktop_provider": provider, "egress_proxy": f"http://{private.address}:{PROXY_PORT}"}
    overrides = desktop_overrides(instance, **wanted_settings)
    app = desktop_app(**wanted_settings)
    settings = lifecycle_of(app).settings
    network = settings.desktops.desktop_network
    make_provider(settings).ensure_network()
    with lifecycle_of(app).sessions() as db:
        base = db.get(DesktopType, "base")
        for mode in MODES:
            db.add(
                DesktopType(
                    id=f"egress-{mode}",
                    image=base.image,
                    title_en=mode,
                    title_de=mode,
                    vnc_port=base.vnc_port,
                    memory_mb=512,
                    egress=mode,
                )
            )
        db.commit()

    with contextlib.ExitStack() as stack:
        # The broker as in the compose stack: `broker serve` in a container on the desktop network,
        # reached by the tests through a bridge of their own (the host cannot reach an overlay).
        access = docker_engine.networks.create(f"{instance}-access", driver="bridge", labels={BROKER_LABEL: instance})
        holder = docker_engine.containers.run(
            settings.desktops.netguard_image,
            ["infinity"],
            entrypoint=["sleep"],
            detach=True,
            name=f"{instance}-broker",
            network=access.name,
            labels={BROKER_LABEL: instance},
        )
        stack.callback(holder.remove, force=True)
        docker_engine.networks.get(network).connect(holder)
        holder.reload()
        broker_address = holder.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        broker = start_broker_in(
            holder,
            holder.attrs["NetworkSettings"]["Networks"][access.name]["IPAddress"],
            tmp_path,
            database_url,
            **overrides,
        )
        stack.callback(broker.stop)

        desktops = {}
        for who, type_id in [("neighbour", "base"), *((f"attacker-{m}", f"egress-{m}") for m in MODES)]:
            person = sign_in(app, who)
            answer = requests.post(
                f"{broker.url}/api/container/start?desktop_type={type_id}",
                timeout=90,
                headers={"Authorization": f"Bearer {person.token}"},
            )
            assert answer.status_code == 200, answer.text + broker.output()
            desktops[who] = answer.json()
        assert {who: desktop["egress"] for who, desktop in desktops.items()} == {
            "neighbour": "none",
            "attacker-none": "none",
            "attacker-internet": "internet",
            "attacker-proxy": "proxy",
        }
        with lifecycle_of(app).sessions() as db:
            addresses = {who: db.get(Desktop, desktop["id"]).address for who, desktop in desktops.items()}

        neighbour = desktop_container(docker_engine, instance, desktops["neighbour"]["id"])
        neighbour.exec_run(["perl", "-e", LISTEN, str(NEIGHBOUR_PORT)], user="1000", detach=True)
        guacd, guacd_address = stack.enter_context(run_guacd(docker_engine, instance, network))
        websockify, websockify_address = run_beside_desktops(
            docker_engine,
            instance,
            network,
            "deskbroker/websockify:latest",
            environment={"VNC_TOKEN_KEY": "k" * 40, "ALLOWED_ORIGINS": "http://localhost:8080"},
        )
        stack.callback(websockify.remove, force=True)
        deadline = time.monotonic() + 15
        while "open" not in probe(websockify, {"x": "127.0.0.1:6080"}, user="0")["x"]:  # it listens
            assert time.monotonic() < deadline, "websockify did not listen"
            time.sleep(0.2)

        controls = {
            "neighbour's listener, from the neighbour itself": (
                probe(neighbour, {"x": f"127.0.0.1:{NEIGHBOUR_PORT}"})["x"],
                "open hello neighbour",
            ),
        }
        for who in (f"attacker-{m}" for m in MODES):
            greeting = guacd.exec_run(["bash", "-c", f"exec 3<>/dev/tcp/{addresses[who]}/5901 && head -c 12 <&3"])
            controls[f"{who}'s VNC, from guacd"] = (greeting.output.decode(errors="replace"), "RFB 003.008\n")
            sound = guacd.exec_run(["bash", "-c", f"exec 3<>/dev/tcp/{addresses[who]}/{SOUND_PORT} && echo open"])
            controls[f"{who}'s sound server, from guacd"] = (sound.output.decode(errors="replace"), "open")
        for name, (seen, wanted) in controls.items():
            figures.record(f"{provider}: {name}", seen.strip() or "nothing", wanted.strip(), seen.startswith(wanted))

        host_targets = {f"host via gateway {gw}": f"{gw}:{host_port}" for gw in gateways(docker_engine, network)}
        host_targets.update({f"host at its address {a}": f"{a}:{host_port}" for a in host_addresses()})
        if provider == "swarm":
            host_targets.update(
                {
                    f"host via docker_gwbridge {gw}": f"{gw}:{host_port}"
                    for gw in gateways(docker_engine, "docker_gwbridge")
                }
            )
        failures = []
        for mode in MODES:
            who = f"attacker-{mode}"
            attacker = desktop_container(docker_engine, instance, desktops[who]["id"])
            targets = {
                "neighbour VNC": f"{addresses['neighbour']}:5901",
                "neighbour sound server": f"{addresses['neighbour']}:{SOUND_PORT}",
                f"neighbour port {NEIGHBOUR_PORT}": f"{addresses['neighbour']}:{NEIGHBOUR_PORT}",
                "guacd": f"{guacd_address}:4822",
                "websockify": f"{websockify_address}:6080",
                "the broker": f"{broker_address}:8080",
                **host_targets,
                "private test host": f"{private.address}:{HELLO_PORT}",
                "public test host": f"{public.address}:{HELLO_PORT}",
                "the proxy": f"{private.address}:{PROXY_PORT}",
            }
            if mode == "internet":
                targets.update(
                    {
                        f"host via egress gateway {gw}": f"{gw}:{host_port}"
                        for gw in gateways(docker_engine, settings.desktops.egress_network)
                    }
                )
            expected_open = {"internet": {"public test host"}, "proxy": {"the proxy"}}.get(mode, set())
            for name, seen in probe(attacker, targets).items():
                wanted = "open" if name in expected_open else "closed"
                passed = seen.split(" ")[0] == wanted
                figures.record(f"{provider} egress {mode}: {name} from inside", seen, wanted, passed)
                if not passed:
                    failures.append(f"{mode}: {name} ({targets[name]}) {seen}, wanted {wanted}")
            own = probe(attacker, {"own screen": "127.0.0.1:5901"})["own screen"]
            figures.record(f"{provider} egress {mode}: its own VNC on loopback", own, "open", own.startswith("open"))
            through = run(attacker, VIA_PROXY, f"{private.address}:{PROXY_PORT}", f"{public.address}:{HELLO_PORT}")
            wanted = "hello public" if mode == "proxy" else "closed"
            figures.record(
                f"{provider} egress {mode}: public host through the proxy",
                through.strip()[-40:] or "-",
                wanted,
                wanted in through,
            )
            if wanted not in through:
                failures.append(f"{mode}: through the proxy: {through!r}")
    assert not failures, "\n".join(failures)
    assert all(seen.startswith(wanted) for seen, wanted in controls.values()), controls
