"""Run inside the broker container (python3 - IMAGE LABEL < this file) with DOCKER_HOST pointing at
the socket proxy: asks the engine for what the broker does and for what it must not get, and
prints each answer's HTTP status as JSON. Anything it made by mistake carries LABEL (the test
instance's broker label), so the test's cleanup removes it."""

import json
import socket
import sys

import docker
from docker.errors import APIError
from docker.types import DriverConfig, Mount

IMAGE, LABEL = sys.argv[1], sys.argv[2]
NETGUARD = "deskbroker/netguard:latest"
client = docker.from_env()
api = client.api
me = socket.gethostname()  # this container's id


def create(image=IMAGE, command=None, **host_config):
    return api.create_container(
        image, command, labels={"io.deskbroker.broker": LABEL}, host_config=api.create_host_config(**host_config)
    )


def raw_create(body: str, chunked: bool = False):
    data = body.encode()
    response = api._post(
        api._url("/containers/create"),
        data=iter([data]) if chunked else data,
        headers={"Content-Type": "application/json"},
    )
    api._raise_for_status(response)


def padded(size: int) -> str:
    """A spec whose dangerous part comes after `size` bytes of padding."""
    return f'{{"Image": "{IMAGE}", "Labels": {{"pad": "{"x" * size}"}}, "HostConfig": {{"Privileged": true}}}}'


def plain_container():
    """What the proxy lets through, so the refusals below are about their one option."""
    api.remove_container(create()["Id"], force=True)


def beside_a_plain_container(act):
    """`act(id)` on a plain container of its own (never on this broker's), removed afterwards."""
    plain = create()["Id"]
    try:
        return act(plain)
    finally:
        api.remove_container(plain, force=True)


def in_namespace_of(plain, image=NETGUARD, command=None, cap_add=("NET_ADMIN",)):
    made = create(image, command, network_mode=f"container:{plain}", cap_add=list(cap_add))
    api.remove_container(made["Id"], force=True)


def connect_and_disconnect(plain):
    api.connect_container_to_network(plain, "bridge")
    api.disconnect_container_from_network(plain, "bridge")


PROBES = {
    "ping": api.ping,
    "list containers": lambda: api.containers(all=True),
    "inspect a container": lambda: api.inspect_container(me),
    "list images": lambda: api.images(),
    "create and remove a plain container": plain_container,
    "exec in a container": lambda: api.exec_create(me, "id"),
    "read files of a container": lambda: api.get_archive(me, "/etc/hostname"),
    "write files outside /run": lambda: api.put_archive(me, "/etc", b""),
    "pull an image": lambda: api.pull("debian", "bookworm"),
    "build an image": lambda: api._raise_for_status(api._post(api._url("/build"), data=b"")),
    "privileged container": lambda: create(privileged=True),
    "bind mount (Binds)": lambda: create(binds=["/:/host"]),
    "bind mount (Mounts)": lambda: create(mounts=[Mount("/host", "/", type="bind")]),
    "volume with bind options": lambda: create(
        mounts=[
            Mount("/host", "probe", driver_config=DriverConfig("local", {"type": "none", "o": "bind", "device": "/"}))
        ]
    ),
    "host network": lambda: create(network_mode="host"),
    "host pid namespace": lambda: create(pid_mode="host"),
    "another container's namespace": lambda: create(network_mode=f"container:{me}"),
    "volumes of another container": lambda: create(volumes_from=[me]),
    "SYS_ADMIN capability": lambda: create(cap_add=["SYS_ADMIN"]),
    "seccomp unconfined": lambda: create(security_opt=["seccomp=unconfined"]),
    "device": lambda: create(devices=["/dev/sda:/dev/sda:rwm"]),
    "lowercase keys": lambda: raw_create(f'{{"image": "{IMAGE}", "hostconfig": {{"privileged": true}}}}'),
    "escaped keys": lambda: raw_create(f'{{"Image": "{IMAGE}", "HostConfig": {{"Privil\\u0065ged": true}}}}'),
    "folded keys": lambda: raw_create(f'{{"Image": "{IMAGE}", "HostConfig": {{"Bind\u017f": ["/:/host"]}}}}'),
    "escaped folded keys": lambda: raw_create(f'{{"Image": "{IMAGE}", "HostConfig": {{"Bind\\u017f": ["/:/h"]}}}}'),
    "padded spec": lambda: raw_create(padded(30000)),
    "padded spec, chunked": lambda: raw_create(padded(30000), chunked=True),
    "spec larger than the buffer": lambda: raw_create(padded(70000)),
    "spec larger than the buffer, chunked": lambda: raw_create(padded(70000), chunked=True),
    "volume with options": lambda: api.create_volume("probe", driver_opts={"type": "none", "o": "bind", "device": "/"}),
    "macvlan network": lambda: api.create_network("probe", driver="macvlan"),
    "connect and disconnect a network": lambda: beside_a_plain_container(connect_and_disconnect),
    "network guard in a container's network namespace": lambda: beside_a_plain_container(in_namespace_of),
    "network guard with a command of its own": lambda: beside_a_plain_container(
        lambda plain: in_namespace_of(plain, command=["sh", "-c", "id"])
    ),
    "network guard with NET_ADMIN and more": lambda: beside_a_plain_container(
        lambda plain: in_namespace_of(plain, cap_add=("NET_ADMIN", "NET_RAW"))
    ),
    "another image with NET_ADMIN in a namespace": lambda: beside_a_plain_container(
        lambda plain: in_namespace_of(plain, image=IMAGE)
    ),
    "NET_ADMIN on a container's own network": lambda: create(cap_add=["NET_ADMIN"]),
    "leave the swarm": lambda: api._raise_for_status(api._post(api._url("/swarm/leave"))),
    "engine events": lambda: api._raise_for_status(api._get(api._url("/events"), params={"until": 1})),
}

answers = {}
for name, probe in PROBES.items():
    try:
        probe()
        answers[name] = 200
    except APIError as error:
        answers[name] = error.status_code
print(json.dumps(answers))
