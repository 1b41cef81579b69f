"""An admin's kill reaches every tunnel of a process through one shared query, not one per tunnel."""

import time

from sqlalchemy import event

from broker.db import make_engine, make_sessionmaker, upgrade, utcnow
from broker.models import Connection
from broker.tunnels.service import KillWatch


def test_the_tunnels_of_a_process_share_one_look_and_a_kill_is_told_once(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kills.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        db.add_all([Connection(id=f"c{n}", mode="control", protocol="guacamole") for n in range(3)])
        db.commit()
    queries = []
    event.listen(engine, "before_cursor_execute", lambda *_args: queries.append(1))
    watch = KillWatch(sessions, max_age=0.2)

    assert [watch.requested(c) for c in ("c0", "c1", "c2")] == [False, False, False]
    assert len(queries) == 1  # the first to ask looked; the others answered from that look
    with sessions() as db:
        db.get(Connection, "c1").kill_requested_at = utcnow()
        db.commit()
    queries.clear()
    assert [watch.requested(c) for c in ("c0", "c1", "c2")] == [False, False, False]  # the look is fresh
    assert queries == []
    time.sleep(0.2)
    assert [watch.requested(c) for c in ("c0", "c1", "c2")] == [False, True, False]
    assert len(queries) == 1  # one look for all three
