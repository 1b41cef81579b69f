"""Housekeeping against the real engine: reconcile, idle stop, removal, catalog, pool, and the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from broker.cli import cli
from broker.db import utcnow
from broker.desktops.catalog import sync_catalog
from broker.desktops.naming import home_volume_name, public_volume_name
from broker.desktops.provider import BROKER_LABEL
from broker.housekeeping import run_once
from broker.images.catalog import CatalogEntry, CatalogImage, LocalizedText
from broker.models import AuditEvent, Desktop, DesktopType
from tests.fixtures.broker import settings_env
from tests.fixtures.desktops import containers_of, desktop_overrides, lifecycle_of, sign_in, stray_desktop_spec

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def start(person, type_id="base") -> dict:
    answer = person.call("post", f"/api/container/start?desktop_type={type_id}")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def edit(app, desktop_id, **values) -> None:
    with lifecycle_of(app).sessions() as db:
        desktop = db.get(Desktop, desktop_id)
        for name, value in values.items():
            setattr(desktop, name, value)
        db.commit()


def load(app, desktop_id) -> Desktop | None:
    with lifecycle_of(app).sessions() as db:
        return db.get(Desktop, desktop_id)


def test_reconcile_adopts_marks_vanished_and_removes_orphans(desktop_app, docker_engine, instance):
    app = desktop_app(desktops_per_user="1")
    lifecycle = lifecycle_of(app)
    anna, ben, cleo, dora = (sign_in(app, name) for name in ("anna", "ben", "cleo", "dora"))
    kept, interrupted, vanished, restarted = start(anna), start(ben), start(cleo), start(dora)
    long_ago = utcnow() - timedelta(hours=1)
    edit(app, interrupted["id"], state="starting", state_changed_at=long_ago)  # its broker died mid-start
    docker_engine.containers.get(vanished["container_id"]).remove(force=True)  # removed behind our back
    edit(app, restarted["id"], state="stopped", state_changed_at=long_ago, address=None)  # `docker start`ed
    orphan = lifecycle.provider.create(stray_desktop_spec("no-such-desktop", f"{instance}-orphan"))
    foreign = docker_engine.containers.create("deskbroker/base:latest", labels={BROKER_LABEL: "someone-else"})
    # guacd or websockify of this installation (compose labels them too): not a desktop, never an orphan.
    tier = docker_engine.containers.create("deskbroker/base:latest", labels={BROKER_LABEL: instance})

    try:
        report = run_once(lifecycle)
        assert set(report.adopted) == {interrupted["id"], restarted["id"]}
        assert report.vanished == [vanished["id"]] and report.orphans_removed == [f"{instance}-orphan"]
        assert load(app, kept["id"]).state == load(app, interrupted["id"]).state == "running"
        assert load(app, restarted["id"]).address is not None
        gone = load(app, vanished["id"])
        assert gone.state == "error" and gone.container_id is None and "disappeared" in gone.state_reason
        assert {c.id for c in containers_of(docker_engine, instance)} == {
            kept["container_id"],
            interrupted["container_id"],
            restarted["container_id"],
            tier.id,
        }
        assert orphan not in {c.id for c in docker_engine.containers.list(all=True)}
        docker_engine.containers.get(foreign.id)  # not made by this broker: left alone
        docker_engine.containers.get(tier.id)
        assert not run_once(lifecycle)  # a second pass finds nothing to do

        # The vanished desktop starts again with a new container.
        assert start(cleo)["container_id"] not in (None, vanished["container_id"])
    finally:
        foreign.remove(force=True)
        tier.remove(force=True)


def test_idle_desktops_stop_and_old_stopped_ones_are_removed_but_homes_stay(desktop_app, docker_engine, instance):
    app = desktop_app(desktops_per_user="2", desktop_idle_timeout="6h", desktop_remove_after="7d")
    anna = sign_in(app, "anna")
    idle, busy = start(anna, "base"), start(anna, "xfce")
    edit(app, idle["id"], started_at=utcnow() - timedelta(hours=8), last_activity_at=utcnow() - timedelta(hours=7))
    edit(app, busy["id"], started_at=utcnow() - timedelta(hours=8), last_activity_at=utcnow() - timedelta(hours=1))

    report = run_once(lifecycle_of(app))
    assert report.idle_stopped == [idle["id"]]
    status = anna.call("get", "/api/container/status?desktop_type=base").get_json()
    assert status["state"] == "stopped" and status["reason"] == "Stopped after 6 h without input."
    assert status["last_activity_at"] is not None  # last access stays visible
    assert load(app, busy["id"]).state == "running"

    edit(app, idle["id"], state_changed_at=utcnow() - timedelta(days=8))
    assert run_once(lifecycle_of(app)).expired_removed == [idle["id"]]
    assert load(app, idle["id"]) is None
    assert [c.id for c in containers_of(docker_engine, instance)] == [busy["container_id"]]
    docker_engine.volumes.get(home_volume_name(instance, "local:anna"))  # the home is kept
    with lifecycle_of(app).sessions() as db:
        actions = db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("desktop_%"))).all()
    assert {"desktop_idle_stop", "desktop_expired_remove"} <= set(actions)


def image(entry_id, ref, title="Title", min_memory_mb=256):
    entry = CatalogEntry(
        id=entry_id,
        image=ref,
        title=LocalizedText(de=title, en=title),
        description=LocalizedText(de="d", en="e"),
        icon="i",
        vnc_port=5901,
        min_memory_mb=min_memory_mb,
    )
    return CatalogImage(ref, (ref,), 0, entry, None)


def test_catalog_sync_follows_images_and_keeps_what_admins_made(db):
    db.add(DesktopType(id="custom", image="deskbroker/base:latest", title_en="Mine", title_de="Meins", source="admin"))
    db.commit()
    first = sync_catalog(
        db,
        [
            image("base", "deskbroker/base:latest"),
            image("big", "x/big:latest", min_memory_mb=4096),
            image("custom", "x/custom:latest"),
            CatalogImage("x/broken:latest", (), 0, None, "label missing"),
        ],
    )
    assert sorted(first.added) == ["base", "big"] and first.updated == []
    assert db.get(DesktopType, "big").memory_mb == 4096 and db.get(DesktopType, "base").memory_mb == 1024
    assert db.get(DesktopType, "custom").image == "deskbroker/base:latest"  # the admin's stays
    db.get(DesktopType, "base").cpus = 2.5  # an admin's tuning
    db.commit()

    second = sync_catalog(
        db, [image("base", "deskbroker/base:0.1.0", title="Old"), image("base", "deskbroker/base:latest", title="New")]
    )
    assert second.updated == ["base"] and second.missing == ["big"]
    base = db.get(DesktopType, "base")
    assert (base.title_en, base.image, base.cpus) == ("New", "deskbroker/base:latest", 2.5)
    assert db.get(DesktopType, "big") is not None  # kept: starting it will say the image is missing


def test_a_pool_desktop_is_taken_at_once_and_the_pool_refilled(desktop_app, docker_engine, instance):
    app = desktop_app(desktop_pool_size="1", desktop_persistent_homes="false")
    lifecycle = lifecycle_of(app)
    with lifecycle.sessions() as db:
        for kind in db.scalars(select(DesktopType).where(DesktopType.id != "base")):
            kind.enabled = False
        db.commit()
    assert run_once(lifecycle).pool_started == 1
    pooled = containers_of(docker_engine, instance)
    assert len(pooled) == 1 and pooled[0].labels["io.deskbroker.owner"] == ""

    anna = sign_in(app, "anna")
    desktop = start(anna)
    assert desktop["container_id"] == pooled[0].id and desktop["owner"] == "anna"  # taken, not made
    assert [m["Destination"] for m in docker_engine.api.inspect_container(desktop["container_id"])["Mounts"]] == [
        "/srv/public"
    ]  # no home

    assert run_once(lifecycle).pool_started == 1
    assert len(containers_of(docker_engine, instance)) == 2
    assert not run_once(lifecycle)


def test_cli_lists_reconciles_syncs_and_deletes_homes(desktop_app, database_url, docker_engine, instance):
    app = desktop_app()
    anna = sign_in(app, "anna")
    start(anna)
    env = settings_env(database_url=database_url, **desktop_overrides(instance))
    runner = CliRunner()

    listed = runner.invoke(cli, ["desktops", "list"], env=env)
    assert listed.exit_code == 0 and "anna" in listed.output and "running" in listed.output
    synced = runner.invoke(cli, ["desktops", "sync-catalog"], env=env)
    assert synced.exit_code == 0 and "added: -" in synced.output
    reconciled = runner.invoke(cli, ["desktops", "reconcile"], env=env)
    assert reconciled.exit_code == 0 and "adopted: 0" in reconciled.output

    refused = runner.invoke(cli, ["desktops", "delete-home", "anna"], env=env)
    assert refused.exit_code == 1 and "still has desktops" in refused.output
    assert anna.call("post", "/api/container/remove").status_code == 200
    deleted = runner.invoke(cli, ["desktops", "delete-home", "anna"], env=env)
    assert deleted.exit_code == 0 and home_volume_name(instance, "local:anna") in deleted.output
    assert [volume.name for volume in docker_engine.volumes.list(filters={"label": f"{BROKER_LABEL}={instance}"})] == [
        public_volume_name(instance)
    ]  # the public files stay

    dead = runner.invoke(cli, ["desktops", "reconcile"], env={**env, "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert dead.exit_code == 1 and "container engine is not reachable" in dead.output
