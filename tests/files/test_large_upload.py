"""A 200 MiB upload and download through `broker serve` (gunicorn + gevent), streamed both ways:
byte-identical, past the app's 16 MiB request limit, without the worker's memory growing by it."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import requests

from broker.auth.users import create_local_user
from tests.files.conftest import home_of
from tests.fixtures.desktops import PASSWORD, desktop_overrides

SIZE = 200 * 2**20
BLOCK = 2**20
BOUNDARY = "deskbroker-test-boundary"


class Body:
    """A multipart body made while it is sent (nothing of it is held whole), hashing the file's bytes."""

    def __init__(self, name: str):
        self.digest = hashlib.sha256()
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.pieces = self._pieces()
        self.buffer = b""

    def __len__(self) -> int:
        return len(self.head) + SIZE + len(self.tail)

    def _pieces(self) -> Iterator[bytes]:
        yield self.head
        block = os.urandom(BLOCK)
        for number in range(SIZE // BLOCK):
            piece = number.to_bytes(8, "big") + block[8:]
            self.digest.update(piece)
            yield piece
        yield self.tail

    def read(self, size: int = -1) -> bytes:
        while len(self.buffer) < size:
            piece = next(self.pieces, None)
            if piece is None:
                break
            self.buffer += piece
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def peak_memory_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def test_a_200_mib_file_streams_up_and_down_byte_identical(live_broker_factory, database_url, docker_engine, instance):
    broker = live_broker_factory(database_url, **desktop_overrides(instance))
    with broker.session() as db:
        create_local_user(db, "anna", PASSWORD)
        db.commit()
    token = requests.post(
        broker.url + "/api/auth/local/login", json={"username": "anna", "password": PASSWORD}, timeout=10
    ).json()["session_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.get(broker.url + "/api/files/home/list", headers=auth, timeout=30).ok  # warm the worker up
    worker = int(Path(f"/proc/{broker.process.pid}/task/{broker.process.pid}/children").read_text().split()[0])
    memory_before = peak_memory_mib(worker)

    body = Body("groß.bin")
    address = urlsplit(broker.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120, blocksize=BLOCK)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/files/home/upload",
        body=body,
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(len(body))},
    )
    answer = connection.getresponse()
    upload_seconds = time.perf_counter() - started
    assert answer.status == 201, answer.read()
    connection.close()

    started = time.perf_counter()
    received = hashlib.sha256()
    with requests.get(
        broker.url + "/api/files/home/download", params={"path": "groß.bin"}, headers=auth, stream=True, timeout=120
    ) as download:
        assert download.status_code == 200 and int(download.headers["Content-Length"]) == SIZE
        for chunk in download.iter_content(BLOCK):
            received.update(chunk)
    download_seconds = time.perf_counter() - started
    assert received.hexdigest() == body.digest.hexdigest()
    on_disk = home_of(docker_engine, instance, "anna") / "groß.bin"
    assert on_disk.stat().st_size == SIZE

    memory_after = peak_memory_mib(worker)
    growth = memory_after - memory_before
    print(
        f"\n200 MiB through broker serve: upload {SIZE / 2**20 / upload_seconds:.0f} MiB/s, "
        f"download {SIZE / 2**20 / download_seconds:.0f} MiB/s; "
        f"worker peak memory {memory_before:.0f} -> {memory_after:.0f} MiB"
    )
    assert growth < 32, f"the worker's peak memory grew by {growth:.0f} MiB: the upload was not streamed"
