"""Hosts for the isolation suite to aim at: a "public" and a "private" one, each in a network
namespace this suite makes on this machine (a veth pair to the host, nothing else), and a
listener on the host itself. No outside address is ever involved: the public host sits on a
documentation range (198.51.100.0/24), the private one on 10.213.77.0/24.

Each host answers `hello <name>` on HELLO_PORT; the private one also runs a small HTTP proxy
(CONNECT only) on PROXY_PORT, the school's web filter of the `proxy` egress mode.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

HELLO_PORT = 8000
PROXY_PORT = 3128

# Run inside a namespace by the host's Python: hello on HELLO_PORT, and with --proxy a CONNECT proxy.
SERVER = r"""
import socket, sys, threading
name, address, proxy = sys.argv[1], sys.argv[2], "--proxy" in sys.argv

def hello(port):
    server = socket.create_server((address, port), reuse_port=True)
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(f"hello {name}\n".encode())

def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass

def tunnel(conn):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 8192:
        chunk = conn.recv(1024)
        if not chunk:
            return conn.close()
        head += chunk
    words = head.split(b"\r\n", 1)[0].split()
    if len(words) < 2 or words[0] != b"CONNECT":
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        return conn.close()
    host, port = words[1].decode().rsplit(":", 1)
    try:
        upstream = socket.create_connection((host, int(port)), timeout=3)
    except OSError:
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        return conn.close()
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(conn, upstream), daemon=True).start()
    pipe(upstream, conn)

if proxy:
    def serve_proxy():
        server = socket.create_server((address, %(proxy_port)d), reuse_port=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=tunnel, args=(conn,), daemon=True).start()
    threading.Thread(target=serve_proxy, daemon=True).start()
print("ready", flush=True)
hello(%(hello_port)d)
""" % {"proxy_port": PROXY_PORT, "hello_port": HELLO_PORT}  # noqa: UP031 - the script holds braces of its own


@dataclass
class TestHost:
    name: str
    address: str  # inside its namespace
    gateway: str  # the host's end of the veth pair
    namespace: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def namespace_host(name: str, prefix: str, proxy: bool = False) -> Iterator[TestHost]:
    """A network namespace holding `prefix`.2, reached from the host through `prefix`.1."""
    tag = secrets.token_hex(3)
    namespace, outer, inner = f"dbt-{name}-{tag}", f"dbt{name[:3]}{tag}h", f"dbt{name[:3]}{tag}n"
    host = TestHost(name, f"{prefix}.2", f"{prefix}.1", namespace)
    process = None
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", namespace)
        _ip("addr", "add", f"{host.gateway}/24", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{host.address}/24", "dev", inner)
        _ip("netns", "exec", namespace, "ip", "link", "set", inner, "up")
        _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        _ip("netns", "exec", namespace, "ip", "route", "add", "default", "via", host.gateway)
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                sys.executable,
                "-c",
                SERVER,
                name,
                host.address,
                *(["--proxy"] if proxy else []),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {name} test host did not start: {process.stdout.read()}")
        yield host
    finally:
        if process is not None:
            process.kill()
            process.wait()
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", outer)
        _ip("netns", "del", namespace)


def link(near: TestHost, far: TestHost, prefix: str) -> None:
    """A veth pair straight between two test hosts, so `near` reaches `far` (the proxy its upstream)
    without the host forwarding anything. Goes with the namespaces."""
    tag = secrets.token_hex(3)
    a, b = f"dbtl{tag}a", f"dbtl{tag}b"
    _ip("link", "add", a, "netns", near.namespace, "type", "veth", "peer", "name", b, "netns", far.namespace)
    for namespace, device, address in ((near.namespace, a, f"{prefix}.1"), (far.namespace, b, f"{prefix}.2")):
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{address}/30", "dev", device)
        _ip("netns", "exec", namespace, "ip", "link", "set", device, "up")
    _ip("netns", "exec", near.namespace, "ip", "route", "add", f"{far.address}/32", "via", f"{prefix}.2")


@contextlib.contextmanager
def host_listener() -> Iterator[int]:
    """A service on this host listening on every address (0.0.0.0), as careless host services do."""
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"hello host\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(2)
        server.close()
