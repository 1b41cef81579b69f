"""Migrations from empty and the models, on SQLite and a real PostgreSQL."""

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from broker.auth.claims import GroupClaim, Identity
from broker.auth.sessions import create_session, resolve_session
from broker.auth.users import create_local_user, upsert_from_identity
from broker.db import Base, make_engine, make_sessionmaker, pending_migrations, upgrade, utcnow
from broker.models import AuditEvent, AuthSession, Desktop, DesktopType, Group, User


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine):
    with make_sessionmaker(engine)() as session:
        yield session


def test_migrations_build_exactly_the_models(engine):
    assert not pending_migrations(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], "models changed without a migration"
    tables = set(inspect(engine).get_table_names())
    assert {"users", "groups", "roles", "sessions", "desktop_types", "desktops", "audit_log"} <= tables


def test_upgrade_again_is_harmless(engine):
    upgrade(engine)
    assert not pending_migrations(engine)


def test_an_empty_database_reports_pending_migrations(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert pending_migrations(engine)
    engine.dispose()


def identity(groups, username="max"):
    return Identity(
        subject="uuid-1",
        username=username,
        display_name="Max",
        email="max@school.example",
        groups=tuple(GroupClaim(key, name) for key, name in groups),
    )


def test_groups_and_roles_follow_the_provider_at_every_sign_in(db):
    user = upsert_from_identity(db, identity([("admins", "Admins"), ("5a", "Klasse 5a")]), ["admin"])
    db.commit()
    assert user.role_names == ["admin"] and sorted(g.key for g in user.groups) == ["5a", "admins"]
    again = upsert_from_identity(db, identity([("6a", "Klasse 6a")], username="max.new"), [])
    db.commit()
    assert again.id == user.id and again.username == "max.new"
    assert again.role_names == [] and [g.key for g in again.groups] == ["6a"]
    # Groups stay as records (other members may have them); membership is what changed.
    assert {g.key for g in db.scalars(select(Group))} == {"5a", "6a", "admins"}


def test_a_taken_username_gets_a_suffix_instead_of_taking_over(db):
    create_local_user(db, "max", "local password 1")
    user = upsert_from_identity(db, identity([]), [])
    db.commit()
    assert user.username == "max-2" and user.subject == "oidc:uuid-1"


def test_sessions_cascade_with_their_user(db):
    user, _ = create_local_user(db, "anna", "long enough password")
    token, _record = create_session(db, user, 3600)
    db.commit()
    assert resolve_session(db, token).user.username == "anna"
    db.delete(user)
    db.commit()
    assert db.scalars(select(AuthSession)).all() == []


def test_desktops_types_and_audit(db):
    user, _ = create_local_user(db, "ben", "long enough password")
    kind = DesktopType(id="xfce", image="deskbroker/xfce:latest", title_en="XFCE desktop", title_de="XFCE-Desktop")
    desktop = Desktop(
        id="0f5b7c1e-0000-4000-8000-000000000001",
        user=user,
        desktop_type=kind,
        state="running",
        started_at=utcnow(),
        last_activity_at=utcnow() - timedelta(minutes=5),
    )
    db.add_all(
        [
            kind,
            desktop,
            AuditEvent(
                action="desktop_start", actor_id=user.id, actor="ben", target=desktop.id, details={"type": "xfce"}
            ),
        ]
    )
    db.commit()
    loaded = db.scalar(select(Desktop))
    assert loaded.desktop_type.title_de == "XFCE-Desktop" and loaded.user.username == "ben"
    assert db.scalar(select(AuditEvent)).details == {"type": "xfce"}


def test_usernames_are_unique(db):
    db.add_all(
        [
            User(subject="oidc:a", username="same", auth_source="oidc"),
            User(subject="oidc:b", username="same", auth_source="oidc"),
        ]
    )
    with pytest.raises(IntegrityError):
        db.commit()
