"""Signing in and out, independent of HTTP: returns a session token or says why not."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from broker import audit
from broker.auth import sessions, users
from broker.auth.claims import identity_from_claims, roles_for_groups
from broker.auth.throttle import LoginThrottlePolicy
from broker.config import Settings
from broker.db import utcnow
from broker.errors import Forbidden, NotSignedIn
from broker.models import AuthSession, User


class SignInRefused(Forbidden):
    """The person may not sign in (a disabled account, say)."""


class WrongCredentials(NotSignedIn, SignInRefused):
    code = "invalid_credentials"


def sign_in_local(
    db: Session, settings: Settings, username: str, password: str, ip: str, user_agent: str = ""
) -> tuple[str, AuthSession]:
    """Raises Throttled when too many attempts failed, SignInRefused for wrong credentials."""
    auth = settings.auth
    policy = LoginThrottlePolicy(
        auth.login_max_failures, auth.login_lockout, auth.login_delay_max, auth.login_address_max_failures
    )
    user = users.find_local_user(db, username)
    known = user is not None and sessions.signed_in_from(db, user, ip)
    db.commit()  # the throttle's transaction starts with its write (SQLite: no read-then-write upgrade)
    attempt = policy.begin(db, username, ip, known)
    # No pooled connection is held while the password's hash is worked out.
    if not users.verify_local_password(user, password):
        audit.record(db, "login_failed", target=username[:255], ip=ip, method="local")
        for lockout in policy.failed(attempt):
            audit.record(
                db,
                "login_lockout",
                target=username[:255],
                ip=ip,
                scope=lockout.scope,
                seconds=lockout.seconds,
                failures=lockout.failures,
            )
        db.commit()
        raise WrongCredentials("Wrong username or password.")
    policy.succeeded(db, attempt)
    db.commit()  # at once: the shared address row is not held while the session is made
    if user.disabled:
        db.commit()
        raise SignInRefused("This account has been disabled by an administrator.", code="account_disabled")
    return _start_session(db, settings, user, ip, user_agent, "local")


def sign_in_oidc(
    db: Session, settings: Settings, claims: dict[str, Any], ip: str, user_agent: str = ""
) -> tuple[str, AuthSession]:
    identity = identity_from_claims(claims, settings.oidc.oidc_groups_claim)
    roles = roles_for_groups(identity.groups, settings.oidc.admin_groups, settings.oidc.teacher_groups)
    try:
        user = users.upsert_from_identity(db, identity, roles)
    except users.UserError as exc:
        db.rollback()
        raise SignInRefused(str(exc).capitalize() + ".", code="account_disabled") from None
    return _start_session(db, settings, user, ip, user_agent, "oidc")


def _start_session(
    db: Session, settings: Settings, user: User, ip: str, user_agent: str, method: str
) -> tuple[str, AuthSession]:
    user.last_login_at = utcnow()
    token, record = sessions.create_session(db, user, settings.auth.session_lifetime, ip, user_agent)
    audit.record(db, "login", actor=user, ip=ip, method=method)
    db.commit()
    return token, record


def sign_out(db: Session, record: AuthSession, ip: str) -> None:
    sessions.revoke(db, record)
    audit.record(db, "logout", actor=record.user, ip=ip)
    db.commit()
