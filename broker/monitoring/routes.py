"""GET /metrics: Prometheus' text format, for a scraper with the token or from an allowed address."""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from broker import context
from broker.config import MetricsSettings
from broker.monitoring.desktop_states import DesktopStates
from broker.openapi import documented

bp = Blueprint("monitoring", __name__)
FORBIDDEN = (
    "Metrics need the scrape token (DESKBROKER_METRICS_TOKEN) or an address in DESKBROKER_METRICS_ALLOWED_NETWORKS.\n"
)


@bp.get("/metrics")
@documented(
    "Figures for Prometheus (text format 0.0.4)",
    public=True,
    description="With `Authorization: Bearer` and DESKBROKER_METRICS_TOKEN, or from an address in "
    "DESKBROKER_METRICS_ALLOWED_NETWORKS (default: this host only). Series: docs/operations.md.",
    responses={
        200: {"description": "The figures", "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        403: {
            "description": "Neither the token nor an allowed address",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
)
def scrape():
    settings = context.settings().metrics
    if not may_scrape(settings, request.headers.get("Authorization", ""), request.remote_addr):
        # Plain text, as a scraper shows it: neither a page nor JSON.
        return Response(FORBIDDEN, 403, mimetype="text/plain")
    context.close_db()  # the figures use a short session of their own
    return Response(exposition(context.services().sessions), content_type=CONTENT_TYPE_LATEST)


def may_scrape(settings: MetricsSettings, authorization: str, address: str | None) -> bool:
    scheme, _, token = authorization.partition(" ")
    if settings.metrics_token and scheme.lower() == "bearer":
        return hmac.compare_digest(token.strip().encode(), settings.metrics_token.encode())
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if client.version == 6 and client.ipv4_mapped:
        client = client.ipv4_mapped
    return any(client in ipaddress.ip_network(network) for network in settings.metrics_allowed_networks)


class _ThisProcess:
    """The process's own series, when there is one process (not under `broker serve`)."""

    def collect(self):
        return REGISTRY.collect()


def exposition(sessions) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every worker's files, the dead ones' counters included
    else:
        registry.register(_ThisProcess())
    registry.register(DesktopStates(sessions))
    return generate_latest(registry)
