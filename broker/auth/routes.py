"""/api/auth: thin HTTP over broker.auth.signin."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, make_response, redirect, request, session

from broker import context
from broker.auth import oidc
from broker.auth.current import COOKIE_NAME, client_ip, current_session, require_user
from broker.auth.claims import ClaimsError
from broker.auth.signin import sign_in_local, sign_in_oidc, sign_out
from broker.errors import Invalid, NotFound, browser_page
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
        raise NotFound("Single sign-on is not configured on this server.", code="sso_disabled")
    return oauth


@bp.get("/login")
@browser_page
def login():
    oauth = _oauth()
    settings = context.settings()
    session[_NEXT] = _safe_next(request.args.get("next"))
    return oidc.begin(oauth, settings.oidc, settings.core.public_url + "/api/auth/authorize")


@bp.get("/authorize")
@browser_page
def authorize():
    oauth = _oauth()
    settings = context.settings()
    try:
        claims = oidc.finish(oauth, settings.oidc)
        token, record = sign_in_oidc(context.db(), settings, claims, client_ip(),
                                     request.headers.get("User-Agent", ""))
    except ValueError as exc:  # say, claims the database cannot hold (NUL characters)
        raise ClaimsError(str(exc)) from None
    return _with_cookie(redirect(_safe_next(session.pop(_NEXT, None))), token, record)


@bp.post("/local/login")
def local_login():
    settings = context.settings()
    if not settings.auth.local_login:
        raise NotFound("Sign-in with local accounts is turned off.", code="local_login_disabled")
    body = request.get_json(silent=True)  # JSON only: a cross-site form cannot send it (login CSRF)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        raise Invalid("Send JSON with a username and a password.")
    username, password = body["username"].strip(), body["password"]
    if not username or not password or len(username) > 64 or len(password) > 1024:
        raise Invalid("Username and password must not be empty or overlong.")
    token, record = sign_in_local(context.db(), settings, username, password, client_ip(),
                                  request.headers.get("User-Agent", ""))
    return _with_cookie(make_response(jsonify(session_json(record) | {"session_token": token})), token, record)


@bp.get("/session")
def current():
    require_user()
    return jsonify(session_json(current_session()))


@bp.post("/logout")
def logout():
    require_user()
    sign_out(context.db(), current_session(), client_ip())
    response = jsonify(logged_out=True)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
