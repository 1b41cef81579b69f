"""Turns that every broker process on this host shares: guacd's handshakes, a class's launches.

A turn is held within the process by a semaphore (waiters are served in order) and across this
host's broker processes, and broker containers sharing DESKBROKER_LOCKS_DIR, by a file lock.
The file locks are tried without blocking, so a wait never holds the gevent loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator


class Busy(Exception):
    """No turn came within the wait."""


_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_semaphores_guard = threading.Lock()


def _locks_folder() -> str:
    """DESKBROKER_LOCKS_DIR, a folder every broker on this host shares (compose mounts one into each
    broker replica), else this process's temporary folder."""
    return os.environ.get("DESKBROKER_LOCKS_DIR") or tempfile.gettempdir()


@contextlib.contextmanager
def turn(name: str, wait: float, slots: int = 1, poll: float = 0.005) -> Iterator[None]:
    """Hold one of the `slots` turns called `name` on this host; Busy after `wait` seconds.
    `poll`: how often a waiter looks again for a file lock another process let go."""
    deadline = time.monotonic() + wait
    with _semaphores_guard:
        semaphore = _semaphores.setdefault((name, slots), threading.BoundedSemaphore(slots))
    if not semaphore.acquire(timeout=wait):
        raise Busy(name)
    try:
        safe = re.sub(r"[^A-Za-z0-9.-]", "_", name)
        paths = [os.path.join(_locks_folder(), f"deskbroker-{safe}{f'-{n}' if n else ''}.lock") for n in range(slots)]
        fd = _any_file_lock(paths, deadline, poll)
        try:
            yield
        finally:
            os.close(fd)  # lets go of the file lock
    finally:
        semaphore.release()


def _any_file_lock(paths: list[str], deadline: float, poll: float) -> int:
    """An open descriptor holding the file lock of one of `paths`."""
    while True:
        for path in paths:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        if time.monotonic() > deadline:
            raise Busy(os.path.basename(paths[0]))
        time.sleep(poll)
