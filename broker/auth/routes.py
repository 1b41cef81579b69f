"""/api/auth: thin HTTP over broker.auth.signin."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, make_response, redirect, request, session

from broker import context
from broker.auth import oidc
from broker.auth.current import COOKIE_NAME, client_ip, current_session, require_user
from broker.auth.signin import SignInRefused, sign_in_local, sign_in_oidc, sign_out
from broker.auth.throttle import Throttled
from broker.auth.users import UserError, set_language
from broker.errors import ApiError, browser_page, error_response
from broker.models import AuthSession

bp = Blueprint("auth", __name__, url_prefix="/api/auth")
_NEXT = "deskbroker_next"


def _safe_next(target: str | None) -> str:
    """Only paths on this site, so the login cannot be used as an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def session_json(record: AuthSession) -> dict:
    user = record.user
    return {
        "authenticated": True,
        "user": {"id": user.id, "username": user.username, "display_name": user.display_name,
                 "email": user.email, "auth_source": user.auth_source, "roles": user.role_names,
                 "language": user.language,
                 "groups": [{"key": g.key, "name": g.name} for g in sorted(user.groups, key=lambda g: g.key)]},
        "expires_at": record.expires_at.isoformat() + "Z",
        "csrf_token": record.csrf_token,
    }


def _with_cookie(response: Response, token: str, record: AuthSession) -> Response:
    response.set_cookie(COOKIE_NAME, token, expires=record.expires_at, httponly=True,
                        secure=context.settings().secure_cookies, samesite="Lax", path="/")
    return response


def _oauth():
    oauth = context.services().oauth
    if oauth is None:
        raise ApiError(404, "sso_disabled", "Single sign-on is not configured on this server.")
    return oauth


@bp.get("/login")
@browser_page
def login():
    oauth = _oauth()
    settings = context.settings()
    session[_NEXT] = _safe_next(request.args.get("next"))
    try:
        return oidc.begin(oauth, settings, settings.public_url + "/api/auth/authorize")
    except oidc.SignInError as exc:
        return error_response(exc.status, exc.code, exc.message, params=exc.params)


@bp.get("/authorize")
@browser_page
def authorize():
    oauth = _oauth()
    settings = context.settings()
    try:
        claims = oidc.finish(oauth, settings)
        token, record = sign_in_oidc(context.db(), settings, claims, client_ip(),
                                     request.headers.get("User-Agent", ""))
    except oidc.SignInError as exc:
        return error_response(exc.status, exc.code, exc.message, params=exc.params)
    except SignInRefused as exc:
        return error_response(403, exc.code, exc.message)
    except ValueError as exc:  # ClaimsError
        return error_response(400, "bad_claims", f"The sign-in service sent unusable data: {exc}.",
                              params={"detail": str(exc)})
    return _with_cookie(redirect(_safe_next(session.pop(_NEXT, None))), token, record)


@bp.post("/local/login")
def local_login():
    settings = context.settings()
    if not settings.local_login:
        raise ApiError(404, "local_login_disabled", "Sign-in with local accounts is turned off.")
    body = request.get_json(silent=True)  # JSON only: a cross-site form cannot send it (login CSRF)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        raise ApiError(400, "bad_request", "Send JSON with a username and a password.")
    username, password = body["username"].strip(), body["password"]
    if not username or not password or len(username) > 64 or len(password) > 1024:
        raise ApiError(400, "bad_request", "Username and password must not be empty or overlong.")
    try:
        token, record = sign_in_local(context.db(), settings, username, password, client_ip(),
                                      request.headers.get("User-Agent", ""))
    except Throttled as exc:
        raise ApiError(429, "too_many_attempts",
                       f"Too many failed sign-ins. Try again in {exc.retry_after} seconds.",
                       {"Retry-After": str(exc.retry_after)}) from None
    except SignInRefused as exc:
        raise ApiError(401 if exc.code == "invalid_credentials" else 403, exc.code, exc.message) from None
    return _with_cookie(make_response(jsonify(session_json(record) | {"session_token": token})), token, record)


@bp.get("/session")
def current():
    require_user()
    return jsonify(session_json(current_session()))


@bp.put("/language")
def language():
    """The language toggle of a signed-in page stores the pick: desktops started from then on speak it."""
    user = require_user()
    body = request.get_json(silent=True)
    try:
        set_language(user, body.get("language") if isinstance(body, dict) else None)
    except UserError as exc:
        raise ApiError(400, "bad_language", f"Send JSON with a language: {exc}.") from None
    context.db().commit()
    return jsonify(language=user.language)


@bp.post("/logout")
def logout():
    require_user()
    sign_out(context.db(), current_session(), client_ip())
    response = jsonify(logged_out=True)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
