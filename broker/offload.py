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

from collections.abc import Callable
from typing import TypeVar

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
