"""Who is asking: the session token from any of the four ways clients send it, CSRF, role checks."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import Request, g, request

from broker import context
from broker.auth.sessions import hash_token, resolve_session
from broker.errors import Forbidden, NotSignedIn
from broker.models import AuthSession, User

COOKIE_NAME = "deskbroker_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Signing in starts a new session: whatever session the request brings (perhaps one planted in
# the browser) is neither used nor a reason to refuse it for a missing CSRF token.
SIGN_IN_ENDPOINTS = frozenset({"auth.local_login"})
# The Guacamole tunnel checks the sign-in itself, in the one database transaction it opens anyway.
OWN_SIGN_IN_CHECK = frozenset({"tunnels.tunnel"})


@dataclass(frozen=True)
class Credential:
    token: str
    via: str  # "bearer" | "header" | "query" | "cookie"


def credential_from(req: Request) -> Credential | None:
    """Clients of the older system send the session in one of four ways; all are accepted."""
    scheme, _, value = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credential(value.strip(), "bearer")
    if req.headers.get("X-Session-ID"):
        return Credential(req.headers["X-Session-ID"].strip(), "header")
    if req.args.get("session_id"):
        return Credential(req.args["session_id"], "query")
    if req.cookies.get(COOKIE_NAME):
        return Credential(req.cookies[COOKIE_NAME], "cookie")
    return None


def load_current_session() -> None:
    """before_request: set g.auth (the session or None) and enforce CSRF for cookie sign-ins."""
    g.auth = None
    credential = credential_from(request)
    if credential is None or request.endpoint == "static" or request.endpoint in SIGN_IN_ENDPOINTS | OWN_SIGN_IN_CHECK:
        return
    g.auth = resolve_session(context.db(), credential.token)
    # A browser attaches cookies to cross-site requests by itself; the other three ways need the
    # caller to know the token, so only cookie-carried sessions need the CSRF token.
    if g.auth is not None and credential.via == "cookie" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), g.auth.csrf_token.encode()):
            raise Forbidden(
                f"Missing or wrong {CSRF_HEADER} header; reload the page and try again.", code="csrf_failed"
            )


def current_session() -> AuthSession | None:
    return g.get("auth")


def current_user() -> User | None:
    auth = current_session()
    return auth.user if auth else None


def require_user() -> User:
    user = current_user()
    if user is None:
        if _disabled_account():
            raise NotSignedIn("This account has been disabled by an administrator.", code="account_disabled")
        raise NotSignedIn("Please sign in.", code="not_signed_in")
    return user


def _disabled_account() -> bool:
    """Whether the request's session is one of a disabled account (the viewer then says so, not just
    "signed out"). Only the session's holder learns it."""
    credential = credential_from(request)
    if credential is None or not credential.token or len(credential.token) > 256:
        return False
    record = context.db().get(AuthSession, hash_token(credential.token))
    return record is not None and record.user.disabled


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        require_user()
        return view(*args, **kwargs)

    return wrapper


def role_required(*roles: str) -> Callable[[Callable], Callable]:
    """Allow the view to users having any of `roles`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = require_user()
            if not any(user.has_role(role) for role in roles):
                raise Forbidden("You are not allowed to do this.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def template_values() -> dict:
    """What every page learns of the person: the language they picked, which beats the browser's
    (web/src/i18n.js); empty when signed out or never picked."""
    user = current_user()
    return {"person_language": (user.language if user else None) or ""}


def client_ip() -> str:
    return request.remote_addr or ""
