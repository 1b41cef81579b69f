"""Leases: work that one broker process does for all (housekeeping), whichever brokers and workers
run. The holder renews its lease before it expires; a holder that dies stops renewing, and the
first process to ask after the expiry takes it over. One compare-and-set UPDATE (or the first
INSERT) decides, on PostgreSQL and SQLite alike. Brokers on several hosts need their clocks in step
(NTP) to within a fraction of the lease."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.models import Lease


def holder_name() -> str:
    """This process, recognisably in the database: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def hold(db: Session, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`; whether `holder` has it now."""
    now = utcnow()
    expires_at = now + timedelta(seconds=seconds)
    taken = db.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=expires_at)
    ).rowcount
    if not taken:
        db.rollback()
        if db.get(Lease, name) is not None:
            return False  # another's, and not expired
        db.add(Lease(name=name, holder=holder, expires_at=expires_at))
        try:
            db.flush()
        except IntegrityError:  # another process made it first
            db.rollback()
            return False
    db.commit()
    return True


def release(db: Session, name: str, holder: str) -> None:
    """Let go at once (a clean shutdown), so that another process need not wait for the expiry."""
    db.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
    db.commit()
