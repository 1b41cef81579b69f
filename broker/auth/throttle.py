"""Slow down password guessing: too many failures per account or address lock it for a while."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.models import LoginThrottle


@dataclass(frozen=True)
class Throttled(Exception):
    retry_after: int  # seconds


@dataclass(frozen=True)
class LoginThrottlePolicy:
    max_failures: int
    lockout_seconds: int

    def check(self, db: Session, keys: list[str]) -> None:
        now = utcnow()
        waits = [int((row.locked_until - now).total_seconds()) + 1
                 for row in db.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
                 if row.locked_until and row.locked_until > now]
        if waits:
            raise Throttled(max(waits))

    def record_failure(self, db: Session, keys: list[str]) -> None:
        now = utcnow()
        window = timedelta(seconds=self.lockout_seconds)
        for key in keys:
            row = db.get(LoginThrottle, key)
            if row is None:
                row = LoginThrottle(key=key, failures=0, first_failure_at=now)
                db.add(row)
            elif now - row.first_failure_at > window:
                row.failures, row.first_failure_at, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= self.max_failures:
                row.locked_until = now + window

    def reset(self, db: Session, keys: list[str]) -> None:
        db.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
