"""Start durations on /metrics, by how the desktop started, with real desktops on the Docker engine."""

from __future__ import annotations

import pytest

from tests.fixtures.desktops import lifecycle_of, sign_in
from tests.monitoring.test_metrics_endpoint import samples


def starts(client) -> dict[str, float]:
    found = samples(client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True))
    return {
        kind: found.get(("deskbroker_desktop_start_duration_seconds_count", (("kind", kind),)), 0)
        for kind in ("cold", "stopped", "pool", "pool_fill")
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cold_start_and_a_start_of_a_stopped_desktop_are_timed_apart(desktop_app):
    app = desktop_app()
    anna, client = sign_in(app, "anna"), app.test_client()
    before = starts(client)
    assert anna.call("post", "/api/container/start?desktop_type=base").status_code == 200
    assert anna.call("post", "/api/container/stop").status_code == 200
    assert anna.call("post", "/api/container/start?desktop_type=base").status_code == 200
    assert anna.call("post", "/api/container/start?desktop_type=base").status_code == 200  # running: no start
    after = starts(client)
    assert {kind: after[kind] - before[kind] for kind in after} == {"cold": 1, "stopped": 1, "pool": 0, "pool_fill": 0}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_desktop_taken_from_the_pool_is_timed_as_such(desktop_app):
    app = desktop_app(desktop_pool_size="1", desktop_persistent_homes="false")
    lifecycle = lifecycle_of(app)
    anna, client = sign_in(app, "anna"), app.test_client()
    before = starts(client)
    with lifecycle.sessions() as db:
        assert lifecycle.fill_pool(db) >= 1  # warming up is not a person's start
    warmed = starts(client)
    assert warmed["pool_fill"] > before["pool_fill"] and warmed["cold"] == before["cold"]
    assert anna.call("post", "/api/container/start?desktop_type=base").status_code == 200
    after = starts(client)
    assert {kind: after[kind] - warmed[kind] for kind in after} == {"cold": 0, "stopped": 0, "pool": 1, "pool_fill": 0}
