"""`broker serve`: gunicorn with gevent workers, so each tunnel costs a greenlet, not a thread."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from broker.config import Settings

# No query strings in the access log: they may carry ?session_id= or ?token=.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


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
