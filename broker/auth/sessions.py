"""Server-side sign-in sessions: random tokens, only their hash stored, expiry and revocation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.models import AuthSession, User

# Writing last_seen_at on every request would turn each read into a write.
_TOUCH_INTERVAL = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    db: Session, user: User, lifetime_seconds: int, ip: str = "", user_agent: str = ""
) -> tuple[str, AuthSession]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = AuthSession(
        id=hash_token(token),
        user=user,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=lifetime_seconds),
        ip=ip[:64],
        user_agent=user_agent[:255],
    )
    db.add(record)
    return token, record


KNOWN_ADDRESS_DAYS = 90


def signed_in_from(db: Session, user: User, ip: str) -> bool:
    """Whether `user` started a session from `ip` in the last KNOWN_ADDRESS_DAYS."""
    since = utcnow() - timedelta(days=KNOWN_ADDRESS_DAYS)
    return (
        bool(ip)
        and db.scalar(
            select(AuthSession.id)
            .where(AuthSession.user_id == user.id, AuthSession.ip == ip[:64], AuthSession.created_at > since)
            .limit(1)
        )
        is not None
    )


def resolve_session(db: Session, token: str) -> AuthSession | None:
    """The live session for a token, or None when unknown, expired, revoked or its user is disabled."""
    if not token or len(token) > 256:
        return None
    record = db.get(AuthSession, hash_token(token))
    now = utcnow()
    if record is None or record.revoked_at is not None or record.expires_at <= now or record.user.disabled:
        return None
    if now - record.last_seen_at > _TOUCH_INTERVAL:
        record.last_seen_at = now
        db.commit()
    return record


def revoke(db: Session, record: AuthSession) -> None:
    record.revoked_at = utcnow()
