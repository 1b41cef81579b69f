"""Monitoring: `/metrics` for Prometheus (routes.py), the database's figures read at each scrape
(desktop_states.py), and every HTTP request timed (init_app). The series are in broker/metrics.py."""

from __future__ import annotations

import time

from flask import Flask, g, request

from broker import metrics

# Not requests to time: the tunnel lasts as long as the desktop is used, and a scrape would time itself.
UNTIMED = frozenset({"/tunnel", "/metrics"})


def init_app(app: Flask) -> None:
    @app.before_request
    def _started() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _timed(response):
        started = g.pop("request_started", None)
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if started is not None and rule not in UNTIMED:
            metrics.HTTP_SECONDS.labels(rule, request.method, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response
