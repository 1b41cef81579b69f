"""An admin's kill ends a live tunnel that another broker process runs: `broker serve` on PostgreSQL
relays the tunnel, the kill goes through a separate app on the same database."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import select

from broker.models import AuditEvent, Connection
from tests.fixtures.desktops import sign_in
from tests.fixtures.tunnel_viewer import Viewer
from tests.tunnels.test_tunnel import stack, token_for  # noqa: F401 - stack is a fixture

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_kill_ends_a_live_tunnel_within_seconds_with_a_clear_error(stack):  # noqa: F811
    viewer = Viewer(stack.broker.url, token_for(stack, stack.anna))
    assert any(opcode in ("img", "png") for opcode, _ in viewer.until("sync"))
    boss = sign_in(stack.app, "boss", roles=("admin",))
    live = requests.get(
        f"{stack.broker.url}/api/admin/connections?live=true",
        headers={"Authorization": f"Bearer {boss.token}"},
        timeout=10,
    ).json()
    assert live["total"] == 1 and live["connections"][0]["user"] == "anna"
    connection_id = live["connections"][0]["id"]

    killed_at = time.monotonic()
    # Through another process than the broker running the tunnel: only the database connects them.
    assert boss.call("post", f"/api/admin/connections/{connection_id}/kill").status_code == 202
    seen = viewer.until("error", timeout=15)
    assert seen and seen[-1] == ("error", ["An administrator ended this connection.", "523"])
    assert time.monotonic() - killed_at < 5
    assert list(viewer.instructions(timeout=5)) == []  # and the tunnel is closed

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with stack.sessions() as db:
            record = db.get(Connection, connection_id)
            if record.ended_at is not None:
                break
        time.sleep(0.1)
    assert record.ended_at is not None and record.end_reason == "ended by an administrator"
    assert record.bytes_to_client > 0 and record.kill_requested_at <= record.ended_at
    with stack.sessions() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "admin_connection_kill"))
        assert event.actor == "boss" and event.target == connection_id
    ended = boss.call("get", "/api/admin/connections?live=false").get_json()["connections"]
    assert [(c["id"], c["end_reason"]) for c in ended] == [(connection_id, "ended by an administrator")]
    # The desktop itself keeps running: the owner connects again.
    again = Viewer(stack.broker.url, token_for(stack, stack.anna))
    assert any(opcode in ("img", "png") for opcode, _ in again.until("sync"))
    again.close()
