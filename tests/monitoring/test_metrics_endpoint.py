"""/metrics in one process (Flask's test client): who may read it, and what an operator reads there."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.auth.users import create_local_user
from broker.models import Desktop, DesktopType

TOKEN = "a-scrape-token-of-at-least-32-characters"
PASSWORD = "correct horse battery"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, address: str = "127.0.0.1", token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})


def test_only_the_token_or_an_allowed_address_reads_the_figures(app_factory):
    client = app_factory(metrics_token=TOKEN, metrics_allowed_networks="10.9.0.0/16").test_client()
    assert scrape(client, "10.9.3.4").status_code == 200
    assert scrape(client, "192.0.2.77", TOKEN).status_code == 200
    refused = scrape(client, "192.0.2.77")
    assert refused.status_code == 403 and "DESKBROKER_METRICS_TOKEN" in refused.get_data(as_text=True)
    assert scrape(client, "192.0.2.77", TOKEN[:-1] + "x").status_code == 403
    assert scrape(client, "127.0.0.1").status_code == 403  # not in the list given

    default = app_factory().test_client()  # this host only, no token
    assert scrape(default, "127.0.0.1").status_code == 200
    assert scrape(default, "10.9.3.4").status_code == 403
    assert scrape(default, "10.9.3.4", TOKEN).status_code == 403  # no token configured: none works


def test_requests_are_timed_by_route_rule_never_by_who_or_which_desktop(app, db):
    client = app.test_client()
    create_local_user(db, "anna", PASSWORD, [], "Anna")
    db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"))
    db.commit()
    before = samples(scrape(client).get_data(as_text=True))
    for _ in range(3):
        client.get("/healthz")
    assert (
        client.post("/api/auth/local/login", json={"username": "anna", "password": "wrong password"}).status_code == 401
    )
    client.post("/api/desktops/0f6b7c8e-1111-4222-8333-944445555666/connect", json={})  # an id in the path
    text = scrape(client).get_data(as_text=True)
    after = samples(text)

    def grew(labels: dict) -> float:
        key = ("deskbroker_http_request_duration_seconds_count", tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew({"route": "/healthz", "method": "GET", "status": "200"}) == 3
    assert grew({"route": "/api/auth/local/login", "method": "POST", "status": "401"}) == 1
    assert "0f6b7c8e" not in text and "anna" not in text
    assert re.search(r'route="/api/desktops/<[^"]*>/connect"', text)
    assert 'route="/metrics"' not in text  # a scrape does not time itself


def test_desktops_are_counted_by_state_and_type_with_zeros(app, db):
    anna, _ = create_local_user(db, "anna", PASSWORD, [], "Anna")
    db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"))
    db.flush()
    db.add_all(
        [
            Desktop(id="d-1", user_id=anna.id, desktop_type_id="base", state="running"),
            Desktop(id="d-2", user_id=None, desktop_type_id="base", state="running"),
            Desktop(id="d-3", user_id=None, desktop_type_id="base", state="running"),
        ]
    )
    db.commit()
    found = samples(scrape(app.test_client()).get_data(as_text=True))

    def desktops(state: str, pool: str) -> float:
        return found[("deskbroker_desktops", (("pool", pool), ("state", state), ("type", "base")))]

    assert desktops("running", "false") == 1
    assert desktops("running", "true") == 2
    assert desktops("stopped", "false") == 0  # present, as 0: a vanished series reads as "no data"
