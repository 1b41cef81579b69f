"""Slow down password guessing without handing anyone a way to lock a person out.

Three counters of failed local sign-ins, in the database so every broker process shares them:

- the pair (account, address): at LOGIN_MAX_FAILURES that pair is locked for LOGIN_LOCKOUT;
- the address, over all accounts: at LOGIN_ADDRESS_MAX_FAILURES the address is locked for
  LOGIN_LOCKOUT (one address spraying many accounts);
- the account, from all addresses: from LOGIN_MAX_FAILURES on, the next attempt waits 1 s, 2 s,
  4 s ... up to LOGIN_DELAY_MAX, except from an address the account has signed in from before.
  Someone elsewhere slows a person's sign-in, never locks them out.

A counter starts over after LOGIN_LOCKOUT without a failure (a pair or address also when its
lock ran out). An attempt takes its place in all three counters before its password is checked,
in one UPDATE per counter that also checks the lock, so parallel attempts cannot slip past a
limit; a right password takes the pair's failures off the other two counts.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.errors import TooManyAttempts
from broker.models import LoginThrottle


class Throttled(TooManyAttempts):
    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed sign-ins. Try again in {retry_after} seconds.", retry_after=retry_after)


@dataclass(frozen=True)
class Lockout:
    """A lock that began with a failed attempt: for the audit log."""

    scope: str  # "account+address" | "address" | "account"
    seconds: int
    failures: int


def address_key(ip: str) -> str:
    """IPv6 clients usually hold a whole /64: it counts as one address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Attempt:
    pair: str
    account: str
    address: str
    counts: dict[str, int]  # key -> failures including this attempt


@dataclass(frozen=True)
class LoginThrottlePolicy:
    max_failures: int
    lockout_seconds: int
    delay_max_seconds: int
    address_max_failures: int

    def begin(self, db: Session, username: str, ip: str, known_address: bool) -> Attempt:
        """Count the attempt as failed until its password proves right; Throttled (nothing counted) if
        the pair or address is locked, or the account's delay runs and the address is not known."""
        name, where = username.casefold()[:200], address_key(ip)
        attempt = Attempt(f"pair:{where}|{name}", f"user:{name}", f"ip:{where}", {})
        now = utcnow()
        gates = [attempt.pair, attempt.address] + ([] if known_address else [attempt.account])
        try:
            # The address's row, which everyone behind one NAT shares, last: its row lock is then held
            # for one statement and the commit, so a class signing in at once is not taken in turns.
            for key in (attempt.pair, attempt.account, attempt.address):
                count = attempt.counts[key] = self._take(db, key, now, key in gates, key != attempt.account)
                if key == attempt.account:
                    self._lock(db, key, now, self._delay(count - self.max_failures), count >= self.max_failures)
                else:
                    limit = self.max_failures if key == attempt.pair else self.address_max_failures
                    self._lock(db, key, now, self.lockout_seconds, count >= limit)
        except Throttled:
            db.rollback()
            until = db.scalar(select(func.max(LoginThrottle.locked_until)).where(LoginThrottle.key.in_(gates)))
            db.commit()
            raise Throttled(max(1, math.ceil((until - now).total_seconds())) if until else 1) from None
        db.commit()
        return attempt

    def failed(self, attempt: Attempt) -> list[Lockout]:
        """The locks this (failed) attempt began; its counts already stand."""
        began = []
        if attempt.counts[attempt.pair] == self.max_failures:
            began.append(Lockout("account+address", self.lockout_seconds, self.max_failures))
        if attempt.counts[attempt.address] == self.address_max_failures:
            began.append(Lockout("address", self.lockout_seconds, self.address_max_failures))
        if attempt.counts[attempt.account] == self.max_failures:
            began.append(Lockout("account", self._delay(0), self.max_failures))
        return began

    def succeeded(self, db: Session, attempt: Attempt) -> None:
        """The right password: the pair starts over, and its failures (the person's own typos, this
        attempt's place included) come off the account's and the address's counts."""
        mine = attempt.counts[attempt.pair]
        db.execute(delete(LoginThrottle).where(LoginThrottle.key == attempt.pair))
        for key, limit in ((attempt.account, self.max_failures), (attempt.address, self.address_max_failures)):
            left = case((LoginThrottle.failures > mine, LoginThrottle.failures - mine), else_=0)
            db.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(failures=left, locked_until=case((left < limit, None), else_=LoginThrottle.locked_until))
            )

    def _delay(self, over: int) -> int:
        return min(2 ** min(over, 30), self.delay_max_seconds)

    def _take(self, db: Session, key: str, now: datetime, gated: bool, reset_when_unlocked: bool) -> int:
        """+1 on the key's counter, atomically; Throttled if `gated` and the key is locked."""
        insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0, first_failure_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = LoginThrottle
        quiet_since = now - timedelta(seconds=self.lockout_seconds)
        starts_over = [row.last_failure_at.is_(None), row.last_failure_at <= quiet_since]
        if reset_when_unlocked:
            starts_over.append(and_(row.locked_until.is_not(None), row.locked_until <= now))
        stale = or_(*starts_over)
        condition = [row.key == key]
        if gated:
            condition.append(or_(row.locked_until.is_(None), row.locked_until <= now))
        count = db.execute(
            update(row)
            .where(*condition)
            .values(
                failures=case((stale, 1), else_=row.failures + 1),
                first_failure_at=case((stale, now), else_=row.first_failure_at),
                locked_until=case((stale, None), else_=row.locked_until),
                last_failure_at=now,
            )
            .returning(row.failures)
        ).scalar()
        if count is None:
            raise Throttled(0)  # locked: begin() works out how long
        return count

    @staticmethod
    def _lock(db: Session, key: str, now: datetime, seconds: int, when: bool) -> None:
        if when:
            db.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(locked_until=now + timedelta(seconds=seconds))
            )
