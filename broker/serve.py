"""`broker serve`: gunicorn with gevent workers, so each tunnel costs a greenlet, not a thread."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication

from broker.config import Settings

# No query strings in the access log: they may carry ?session_id= or ?token=.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


METRICS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"
_made_folder = [""]  # the folder prepare_metrics_folder made, removed when the server exits


def prepare_metrics_folder() -> None:
    """prometheus_client's multiprocess mode: each worker writes its figures to files in one folder,
    and a scrape of any worker sums them (broker/metrics.py). prometheus_client decides at import
    whether values go to files, so this runs first of all (broker/__main__.py), in the master,
    whose workers inherit it. The operator's folder is emptied (counters restart with the server);
    without one, a new one."""
    folder = os.environ.get(METRICS_FOLDER)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:
        os.environ[METRICS_FOLDER] = _made_folder[0] = tempfile.mkdtemp(prefix="deskbroker-metrics-")


def _on_exit(_server) -> None:
    if _made_folder[0]:
        shutil.rmtree(_made_folder[0], ignore_errors=True)


def _child_exit(_server, worker) -> None:
    # A dead worker's live gauges (open tunnels) leave the sum; its counters stay in it.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _worker_exit(_server, _worker) -> None:
    from broker.housekeeping import stop_background

    stop_background()


def _post_fork(_server, _worker) -> None:
    # Make psycopg2 yield to other greenlets while it waits for PostgreSQL.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


class BrokerServer(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in {
            "bind": self.settings.core.listen,
            "workers": self.settings.core.workers,
            "worker_class": "gevent",
            "worker_connections": 2000,
            "timeout": 60,
            "graceful_timeout": 10,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "loglevel": self.settings.core.log_level.lower(),
            "post_fork": _post_fork,
            "child_exit": _child_exit,
            "worker_exit": _worker_exit,
            "on_exit": _on_exit,
            "proc_name": "deskbroker",
            # gunicorn would believe X-Forwarded-Proto from loopback whatever the settings say;
            # the broker's own middleware (broker/proxies.py) decides whom to believe.
            "forwarded_allow_ips": "",
            # gunicorn ≥ 25's control interface: unused, and one path shared by every broker of a host.
            "control_socket_disable": True,
        }.items():
            if key in self.cfg.settings:  # control_socket_disable is new in gunicorn 25
                self.cfg.set(key, value)

    def load(self):
        from broker import desktops
        from broker.app import create_app
        from broker.housekeeping import start_background
        from broker.logs import configure_logging

        configure_logging(self.settings)
        app = create_app(self.settings)
        # Here, in the worker and after gevent's patching, so housekeeping runs as a greenlet.
        start_background(app.extensions[desktops.EXTENSION])
        return app
