"""The Grafana dashboard in deploy/ asks only for series the broker exports, and shows all of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from broker import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "deskbroker.json"
FROM_THE_DATABASE = {"deskbroker_desktops"}  # broker/monitoring/desktop_states.py


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]


def exported() -> dict[str, set[str]]:
    """Each family the broker exports, with the sample names Prometheus stores for it."""
    families = {}
    for series in vars(metrics).values():
        if isinstance(series, MetricWrapperBase):
            name = series._name
            if isinstance(series, Histogram):
                families[name] = {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
            elif isinstance(series, Counter):
                families[name] = {f"{name}_total"}
            else:
                families[name] = {name}
    return families | {name: {name} for name in FROM_THE_DATABASE}


def test_the_dashboard_asks_for_exported_series_and_shows_every_one():
    families = exported()
    known = set().union(*families.values())
    asked = {name for query in dashboard_queries() for name in re.findall(r"\bdeskbroker_\w+", query)}
    assert asked <= known, f"not exported: {sorted(asked - known)}"
    shown = {family for family, samples in families.items() if samples & asked}
    assert shown == set(families), f"not on the dashboard: {sorted(set(families) - shown)}"
