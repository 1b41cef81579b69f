"""/api/auth: thin HTTP over broker.auth.signin."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, make_response, redirect, request, session

from broker import context
from broker.auth import oidc
from broker.auth.claims import ClaimsError
from broker.auth.current import COOKIE_NAME, client_ip, current_session, require_user
from broker.auth.schemas import LanguageSchema, LocalLoginSchema, NewSessionSchema, SessionSchema, session_json
from broker.auth.signin import sign_in_local, sign_in_oidc, sign_out
from broker.auth.users import UserError, set_language
from broker.errors import Invalid, NotFound, browser_page
from broker.models import AuthSession
from broker.openapi import documented, page

bp = Blueprint("auth", __name__, url_prefix="/api/auth")
_NEXT = "deskbroker_next"


def _safe_next(target: str | None) -> str:
    """Only paths on this site, so the login cannot be used as an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _with_cookie(response: Response, token: str, record: AuthSession) -> Response:
    response.set_cookie(
        COOKIE_NAME,
        token,
        expires=record.expires_at,
        httponly=True,
        secure=context.settings().secure_cookies,
        samesite="Lax",
        path="/",
    )
    return response


def _oauth():
    oauth = context.services().oauth
    if oauth is None:
        raise NotFound("Single sign-on is not configured on this server.", code="sso_disabled")
    return oauth


@bp.get("/login")
@documented(
    "Start single sign-on (redirects to the provider)",
    public=True,
    params=[
        {
            "name": "next",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Path on this site to return to",
        }
    ],
    responses={
        302: {"description": "To the provider's login page"},
        404: page("Single sign-on is not configured"),
        502: page("Provider unreachable"),
    },
)
@browser_page
def login():
    oauth = _oauth()
    settings = context.settings()
    session[_NEXT] = _safe_next(request.args.get("next"))
    return oidc.begin(oauth, settings.oidc, settings.core.public_url + "/api/auth/authorize")


@bp.get("/authorize")
@documented(
    "The provider's callback",
    public=True,
    params=[
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in ("code", "state", "error", "error_description")
    ],
    responses={
        302: {"description": "Signed in; session cookie set"},
        400: page("Bad, replayed or refused callback"),
        403: page("Account disabled"),
        404: page("Single sign-on is not configured"),
        502: page("Provider unreachable"),
    },
)
@browser_page
def authorize():
    oauth = _oauth()
    settings = context.settings()
    try:
        claims = oidc.finish(oauth, settings.oidc)
        token, record = sign_in_oidc(context.db(), settings, claims, client_ip(), request.headers.get("User-Agent", ""))
    except ValueError as exc:  # say, claims the database cannot hold (NUL characters)
        raise ClaimsError(str(exc)) from None
    return _with_cookie(redirect(_safe_next(session.pop(_NEXT, None))), token, record)


@bp.post("/local/login")
@documented(
    "Sign in with a local account",
    public=True,
    body=LocalLoginSchema,
    responses={
        200: ("Signed in; also sets the session cookie", NewSessionSchema),
        400: "Malformed request",
        401: "Wrong username or password",
        403: "Account disabled",
        404: "Local sign-in is turned off",
        429: "Too many failed attempts",
    },
)
def local_login():
    settings = context.settings()
    if not settings.auth.local_login:
        raise NotFound("Sign-in with local accounts is turned off.", code="local_login_disabled")
    body = request.get_json(silent=True)  # JSON only: a cross-site form cannot send it (login CSRF)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("username"), str)
        or not isinstance(body.get("password"), str)
    ):
        raise Invalid("Send JSON with a username and a password.")
    username, password = body["username"].strip(), body["password"]
    if not username or not password or len(username) > 64 or len(password) > 1024:
        raise Invalid("Username and password must not be empty or overlong.")
    token, record = sign_in_local(
        context.db(), settings, username, password, client_ip(), request.headers.get("User-Agent", "")
    )
    return _with_cookie(make_response(jsonify(session_json(record) | {"session_token": token})), token, record)


@bp.get("/session")
@documented("The current session", responses={200: ("Signed in", SessionSchema), 401: "Not signed in"})
def current():
    require_user()
    return jsonify(session_json(current_session()))


@bp.put("/language")
@documented(
    "Store your language (the toggle's pick); desktops started from then on speak it",
    description="A desktop running in another language gets it at its next start, in a new container "
    "(its home is kept when homes are persistent).",
    body=LanguageSchema,
    responses={200: ("Stored", LanguageSchema), 400: "Not de or en", 401: "Not signed in", 403: "Missing CSRF token"},
)
def language():
    """The language toggle of a signed-in page stores the pick: desktops started from then on speak it."""
    user = require_user()
    body = request.get_json(silent=True)
    try:
        set_language(user, body.get("language") if isinstance(body, dict) else None)
    except UserError as exc:
        raise Invalid(f"Send JSON with a language: {exc}.", code="bad_language") from None
    context.db().commit()
    return jsonify(language=user.language)


@bp.post("/logout")
@documented(
    "Sign out (revokes the session)",
    responses={200: {"description": "Signed out"}, 401: "Not signed in", 403: "Missing CSRF token"},
)
def logout():
    require_user()
    sign_out(context.db(), current_session(), client_ip())
    response = jsonify(logged_out=True)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
