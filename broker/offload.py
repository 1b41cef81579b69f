"""Work a person can make long (walking their file tree, scaling a picture) in a real OS thread.

Under `broker serve` each gunicorn worker runs every request and every tunnel on one gevent
loop: a Python loop over 200,000 files there holds them all, /healthz and the tunnels' frames
included. gevent's threadpool runs such work in OS threads instead; the loop gets the GIL back
at the latest after Python's switch interval (5 ms) and whenever the work waits in a system
call (each stat and readdir does). Outside gevent (tests' app clients, the CLI) the work runs
in place: each request has a thread of its own there already.

Whatever runs here must be plain blocking code: no gevent objects, no Flask context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

T = TypeVar("T")


def on_gevent_loop() -> bool:
    """True in a worker whose threading gevent has patched (`broker serve`)."""
    try:
        from gevent import monkey
    except ImportError:  # gevent is a dependency; this keeps a bare import of the broker working
        return False
    return bool(monkey.is_module_patched("threading"))


def off_loop(work: Callable[..., T], *args: object) -> T:
    """`work(*args)` in one of gevent's OS threads when under gevent, in place otherwise.

    The calling greenlet waits (others run meanwhile); what `work` raises is raised here.
    """
    if on_gevent_loop():
        import gevent

        # What `work` raises comes back as a value: gevent's pool would print every exception's
        # traceback as an unhandled error, also an expected FileNotFoundError the caller turns into a 404.
        done, value = gevent.get_hub().threadpool.apply(_outcome, (work, args))
        if done:
            return value
        raise value
    return work(*args)


def _outcome(work: Callable[..., T], args: tuple) -> tuple[bool, object]:
    try:
        return True, work(*args)
    except Exception as error:
        return False, error


def read_chunks(handle: BinaryIO, size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The first `size` bytes of an open file, `chunk` at a time read off the loop (then closed): a
    download's body.

    Not sendfile on the loop: a client reading as fast as the disk gives never makes the socket
    wait, and the greenlet sending held every other request until the file's end."""
    try:
        while size > 0:
            data = off_loop(handle.read, min(size, chunk))
            if not data:  # shortened meanwhile
                return
            size -= len(data)
            yield data
    finally:
        handle.close()
