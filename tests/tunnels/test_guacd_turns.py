"""Handshakes to one guacd take turns, across threads and across broker processes on the host:
guacd 1.3 hangs or cross-wires connections whose handshakes overlap (guacd/README.md)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from broker.tunnels.guacd import Screen, VncTarget, open_connection
from broker.tunnels.protocol import encode, parse, split_complete


class SlowGuacd:
    """Answers the handshake a little slowly and counts the handshakes in progress at once."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        self.in_progress = self.most = self.done = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        """From `select` to `ready`: a handshake in progress."""
        with conn:
            pending = ""
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                complete, pending = split_complete(pending + data.decode(), 1 << 16)
                for opcode, *_args in parse(complete, 1 << 16):
                    if opcode == "select":
                        self._count(+1)
                        time.sleep(0.02)
                        conn.sendall(encode("args", "VERSION_1_3_0", "hostname", "port", "password").encode())
                    elif opcode == "connect":
                        time.sleep(0.02)
                        self._count(-1)
                        conn.sendall(encode("ready", "$" + str(self.port)).encode())
                        return

    def _count(self, change: int) -> None:
        with self.lock:
            self.in_progress += change
            self.most = max(self.most, self.in_progress)
            self.done += change < 0


def _open_several(port: int, count: int) -> None:
    for _ in range(count):
        open_connection("127.0.0.1", port, VncTarget("10.0.0.9", 5901, "pw"), Screen()).close()


def test_handshakes_to_one_guacd_never_overlap_across_threads_and_processes():
    guacd = SlowGuacd()
    context = multiprocessing.get_context("fork")
    others = [context.Process(target=_open_several, args=(guacd.port, 5)) for _ in range(2)]
    for process in others:  # other broker processes on the same host
        process.start()
    with ThreadPoolExecutor(6) as pool:  # one process's tunnels opening at once
        list(pool.map(lambda _n: _open_several(guacd.port, 1), range(6)))
    for process in others:
        process.join(30)
        assert process.exitcode == 0
    assert guacd.done == 16
    assert guacd.most == 1


def _open_as_another_broker(port: int, count: int, own_temp: str, shared_locks: str) -> None:
    """A broker in a container of its own: its own temporary folder, the replicas' shared locks folder."""
    tempfile.tempdir = own_temp
    os.environ["DESKBROKER_LOCKS_DIR"] = shared_locks
    _open_several(port, count)


def test_broker_containers_sharing_a_locks_folder_take_turns_too(tmp_path):
    guacd = SlowGuacd()
    shared = tmp_path / "locks"
    shared.mkdir()
    context = multiprocessing.get_context("fork")
    brokers = []
    for n in range(3):  # compose's broker replicas: /tmp each their own, DESKBROKER_LOCKS_DIR shared
        own = tmp_path / f"tmp-{n}"
        own.mkdir()
        brokers.append(context.Process(target=_open_as_another_broker, args=(guacd.port, 5, str(own), str(shared))))
    for broker in brokers:
        broker.start()
    for broker in brokers:
        broker.join(30)
        assert broker.exitcode == 0
    assert guacd.done == 15
    assert guacd.most == 1
    assert list(shared.iterdir()) and not any(any((tmp_path / f"tmp-{n}").iterdir()) for n in range(3))


def test_a_different_guacd_does_not_wait_for_the_first():
    first, second = SlowGuacd(), SlowGuacd()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda port: _open_several(port, 3), [first.port, second.port] * 2))
    assert first.done == second.done == 6
    # Each guacd saw one handshake at a time, the two of them went on side by side.
    assert first.most == second.most == 1
