"""An ended access reaches every tunnel of a process through one shared query, not one per tunnel,
with the reason the viewer is told (broker.tunnels.ending)."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from broker.auth.sessions import create_session
from broker.auth.users import create_local_user
from broker.db import make_engine, make_sessionmaker, upgrade, utcnow
from broker.models import AuthSession, Connection, Desktop, DesktopType, User
from broker.tunnels.service import KillWatch, ended_connections


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kills.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"))
        user, _ = create_local_user(db, "anna", "long enough password")
        _token, sign_in = create_session(db, user, 3600)
        db.flush()
        db.add(Desktop(id="d1", user_id=user.id, desktop_type_id="base", state="running", address="10.0.0.2"))
        db.add_all(
            [
                Connection(
                    id=f"c{n}",
                    user_id=user.id,
                    desktop_id="d1",
                    session_id=sign_in.id,
                    mode="control",
                    protocol="guacamole",
                )
                for n in range(3)
            ]
        )
        db.commit()
    yield sessions
    engine.dispose()


def test_the_tunnels_of_a_process_share_one_look_and_a_kill_is_told_once(sessions):
    engine = sessions.kw["bind"]
    queries = []
    event.listen(engine, "before_cursor_execute", lambda *_args: queries.append(1))
    watch = KillWatch(sessions, max_age=0.2)

    assert [watch.requested(c) for c in ("c0", "c1", "c2")] == [None, None, None]
    assert len(queries) == 1  # the first to ask looked; the others answered from that look
    with sessions() as db:
        db.get(Connection, "c1").kill_requested_at = utcnow()
        db.commit()
    queries.clear()
    assert [watch.requested(c) for c in ("c0", "c1", "c2")] == [None, None, None]  # the look is fresh
    assert queries == []
    time.sleep(0.2)
    assert [watch.requested(c) for c in ("c0", "c1", "c2")] == [None, "admin", None]
    assert len(queries) == 1  # one look for all three
    assert watch.requested("c1") is None  # told once


def test_each_ended_access_has_its_reason(sessions):
    ids = {"c0", "c1", "c2"}
    with sessions() as db:
        assert ended_connections(db, ids) == {}
        db.get(AuthSession, db.get(Connection, "c0").session_id).expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
        assert ended_connections(db, ids) == {"c0": "signed_out", "c1": "signed_out", "c2": "signed_out"}
        sign_in = db.get(AuthSession, db.get(Connection, "c0").session_id)
        sign_in.expires_at, sign_in.revoked_at = utcnow() + timedelta(hours=1), utcnow()
        db.commit()
        assert set(ended_connections(db, ids).values()) == {"signed_out"}
        sign_in.revoked_at = None
        db.get(Desktop, "d1").state = "stopping"
        db.commit()
        assert set(ended_connections(db, ids).values()) == {"desktop_stopped"}
        db.scalar(db.query(User).statement).disabled = True  # the account outranks the desktop
        db.commit()
        assert set(ended_connections(db, ids).values()) == {"account_disabled"}


def test_a_role_or_group_lost_at_single_sign_on_ends_the_watches_it_allowed(sessions):
    from broker.auth.claims import GroupClaim, Identity
    from broker.auth.users import upsert_from_identity

    def teacher_signs_in(groups: tuple[str, ...], roles: list[str]) -> None:
        with sessions() as db:
            upsert_from_identity(
                db,
                Identity(
                    subject="t-1",
                    username="tom",
                    display_name="Tom",
                    email="",
                    groups=tuple(GroupClaim(g, g) for g in groups),
                ),
                roles,
            )
            db.commit()

    teacher_signs_in(("5a",), ["teacher"])
    with sessions() as db:
        anna = db.scalar(db.query(User).filter(User.username == "anna").statement)
        tom = db.scalar(db.query(User).filter(User.username == "tom").statement)
        anna.groups = list(tom.groups)
        db.add(Connection(id="watch", user_id=tom.id, desktop_id="d1", mode="view", protocol="guacamole"))
        db.commit()
    teacher_signs_in(("5a",), ["teacher"])  # nothing changed: the watch goes on
    with sessions() as db:
        assert db.get(Connection, "watch").kill_requested_at is None
    teacher_signs_in(("6b",), ["teacher"])  # no longer shares a group with anna
    with sessions() as db:
        watch = db.get(Connection, "watch")
        assert watch.kill_requested_at is not None and watch.kill_reason == "watch_revoked"
        assert ended_connections(db, {"watch", "c0"}) == {"watch": "watch_revoked"}
