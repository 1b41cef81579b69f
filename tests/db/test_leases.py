"""Leases (broker/leases.py): one holder at a time, renewals, a takeover after expiry, a release, and
the first lease contended by many processes at once; on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import update

from broker import leases
from broker.db import make_engine, make_sessionmaker, utcnow
from broker.models import Lease


def test_one_holder_at_a_time_until_it_lapses_or_lets_go(database_url):
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as db:
            assert leases.hold(db, "chores", "a", 60)
            assert not leases.hold(db, "chores", "b", 60)
            assert leases.hold(db, "chores", "a", 60)  # renewed
            assert leases.hold(db, "other chores", "b", 60)  # leases are by name
            db.execute(update(Lease).where(Lease.name == "chores").values(expires_at=utcnow() - timedelta(seconds=1)))
            db.commit()
            assert leases.hold(db, "chores", "b", 60)  # a lapses: b takes over
            assert not leases.hold(db, "chores", "a", 60)  # and a, back, does not take it back
            leases.release(db, "chores", "a")  # not a's to release
            assert not leases.hold(db, "chores", "a", 60)
            leases.release(db, "chores", "b")
            assert leases.hold(db, "chores", "a", 60)  # at once after a release
    finally:
        engine.dispose()


def test_many_processes_asking_for_a_new_lease_at_once_get_one_holder(database_url):
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)

    def ask(n: int) -> bool:
        with sessions() as db:
            return leases.hold(db, "chores", f"holder-{n}", 60)

    try:
        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(ask, range(8))) == 1
    finally:
        engine.dispose()
