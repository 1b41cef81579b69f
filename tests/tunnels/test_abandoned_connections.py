"""Connections a dead broker process left open: housekeeping ends those nobody vouched for lately,
and a tunnel that was only cut off from the database takes its connection back."""

from datetime import timedelta

from broker.auth.users import create_local_user
from broker.db import make_engine, make_sessionmaker, upgrade, utcnow
from broker.models import Connection, Desktop, DesktopType
from broker.tunnels.service import ABANDONED, KillWatch, end_abandoned


def test_silent_connections_end_when_last_seen_and_come_back_when_vouched_for(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'connections.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    long_ago, now = utcnow() - timedelta(minutes=10), utcnow()
    with sessions() as db:
        # Their person and running desktop: only the broker process's death is in question here.
        db.add(DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"))
        user, _ = create_local_user(db, "anna", "long enough password")
        db.add(Desktop(id="d1", user=user, desktop_type_id="base", state="running", address="10.0.0.2"))
        owned = {"user": user, "desktop_id": "d1"}
        db.add_all(
            [
                Connection(
                    id="silent", mode="control", protocol="guacamole", started_at=long_ago, seen_at=long_ago, **owned
                ),
                Connection(id="fresh", mode="control", protocol="guacamole", started_at=long_ago, seen_at=now, **owned),
                Connection(
                    id="ended",
                    mode="control",
                    protocol="guacamole",
                    started_at=long_ago,
                    seen_at=long_ago,
                    ended_at=long_ago,
                    end_reason="browser gone",
                    **owned,
                ),
            ]
        )
        db.commit()
        assert end_abandoned(db, silent_for=180) == 1
        rows = {c.id: (c.ended_at, c.end_reason) for c in db.query(Connection)}
    assert rows == {"silent": (long_ago, ABANDONED), "fresh": (None, ""), "ended": (long_ago, "browser gone")}

    watch = KillWatch(sessions, max_age=0, vouch_every=0)  # the process runs "silent" and "ended" after all
    assert not watch.requested("silent") and not watch.requested("ended")
    with sessions() as db:
        silent, ended = db.get(Connection, "silent"), db.get(Connection, "ended")
        assert (silent.ended_at, silent.end_reason) == (None, "") and silent.seen_at > now
        assert (ended.ended_at, ended.end_reason) == (long_ago, "browser gone")  # ended for real stays ended
