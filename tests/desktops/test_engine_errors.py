"""When the engine cannot do it: clear errors, the desktop in `error` with a reason, nothing half-made."""

import time

import pytest
from sqlalchemy import select

from broker.models import Desktop, DesktopType
from tests.fixtures.desktops import containers_of, lifecycle_of, sign_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def add_type(app, type_id, image="deskbroker/base:latest", **values):
    with lifecycle_of(app).sessions() as db:
        db.add(DesktopType(id=type_id, image=image, title_en=type_id, title_de=type_id, **values))
        db.commit()


def stored(app, type_id):
    with lifecycle_of(app).sessions() as db:
        return db.scalar(select(Desktop).where(Desktop.desktop_type_id == type_id))


def test_a_missing_image_is_named_and_leaves_nothing(desktop_app, docker_engine, instance):
    app = desktop_app(catalog=False)
    add_type(app, "ghost", "deskbroker/does-not-exist:latest")
    anna = sign_in(app, "anna")
    answer = anna.call("post", "/api/container/start?desktop_type=ghost")
    assert answer.status_code == 503 and answer.get_json()["error"] == "image_missing"
    assert "deskbroker/does-not-exist:latest is not on the container engine" in answer.get_json()["message"]
    desktop = stored(app, "ghost")
    assert desktop.state == "error" and "does-not-exist" in desktop.state_reason and desktop.container_id is None
    assert anna.call("get", "/api/container/status").get_json()["reason"] == desktop.state_reason
    assert containers_of(docker_engine, instance) == []


def test_an_unreachable_engine_says_so_and_leaves_nothing(desktop_app, docker_engine, instance, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine-here.sock")
    app = desktop_app(catalog=False)
    add_type(app, "base")
    anna = sign_in(app, "anna")
    answer = anna.call("post", "/api/container/start?desktop_type=base")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.get_json() == {
        "error": "engine_unavailable",
        "message": (
            "The container engine is not reachable, so desktops cannot be started or stopped right now. "
            "Please try again later."
        ),
    }
    assert stored(app, "base").state == "error"
    assert anna.call("get", "/api/container/list").status_code == 200  # the rest of the broker works on
    monkeypatch.delenv("DOCKER_HOST")
    assert containers_of(docker_engine, instance) == []


def test_a_desktop_that_never_answers_ends_in_error_not_a_hang(desktop_app, docker_engine, instance):
    app = desktop_app(catalog=False, desktop_start_timeout="3s")
    add_type(app, "mute", vnc_port=5999)  # nothing listens there
    anna = sign_in(app, "anna")
    started = time.monotonic()
    answer = anna.call("post", "/api/container/start?desktop_type=mute")
    assert time.monotonic() - started < 20  # the 3 s timeout, not a hang
    assert answer.status_code == 504 and answer.get_json()["error"] == "start_timeout"
    assert "did not answer within 3 s" in answer.get_json()["message"]
    assert stored(app, "mute").state == "error"
    assert containers_of(docker_engine, instance) == []  # the container made for it is gone again
