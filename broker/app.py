"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from broker import branding, context, desktops, errors, files, health, ids, monitoring, openapi, pages, teacher, viewer
from broker.admin import desktops as admin_desktop_routes
from broker.admin import routes as admin_routes
from broker.auth import current, oidc
from broker.auth import routes as auth_routes
from broker.branding import routes as branding_routes
from broker.classroom import routes as classroom_routes
from broker.config import Settings, load_settings
from broker.db import make_engine, make_sessionmaker
from broker.desktops import routes as desktop_routes
from broker.files import routes as file_routes
from broker.json_bodies import StrictJSONProvider
from broker.monitoring import routes as monitoring_routes
from broker.proxies import ForwardedByTrustedProxies, TrustedProxies
from broker.recordings import routes as recording_routes
from broker.teacher import classroom_routes as teacher_classroom_routes
from broker.teacher import lesson_routes
from broker.teacher import live as classroom_live
from broker.teacher import routes as teacher_routes
from broker.tunnels import routes as tunnel_routes

MAX_REQUEST_BYTES = 16 * 1024 * 1024

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Session ids may travel in URLs (?session_id=) for old clients: never pass them on.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def register_routes(app: Flask) -> None:
    app.url_map.converters.update(ids.CONVERTERS)  # before the routes that use them
    for blueprint in (
        health.bp,
        monitoring_routes.bp,
        openapi.bp,
        auth_routes.bp,
        desktop_routes.bp,
        tunnel_routes.bp,
        file_routes.bp,
        admin_routes.bp,
        admin_desktop_routes.bp,
        recording_routes.bp,
        pages.bp,
        viewer.bp,
        branding_routes.bp,
        teacher_routes.bp,
        teacher_classroom_routes.bp,
        classroom_routes.bp,
        lesson_routes.bp,
        classroom_live.bp,
    ):
        app.register_blueprint(blueprint)


def routes_only() -> Flask:
    """An app with the routes and nothing behind them (no settings, no database): for the OpenAPI document."""
    app = Flask(__name__)
    register_routes(app)
    return app


def api_document() -> dict:
    """The OpenAPI document of every route, without running an app (for the tests that read it)."""
    return openapi.document(routes_only())


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config.update(
        SECRET_KEY=settings.core.secret_key,
        # Flask's own signed cookie only carries the OIDC state, nonce and PKCE verifier.
        SESSION_COOKIE_NAME="deskbroker_oidc",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SOCK_SERVER_OPTIONS=tunnel_routes.WEBSOCKET_OPTIONS,
    )
    if settings.core.trusted_proxies:
        app.wsgi_app = ForwardedByTrustedProxies(app.wsgi_app, TrustedProxies(settings.core.trusted_proxies))

    engine = make_engine(settings.core.sqlalchemy_url)
    sessions = make_sessionmaker(engine)
    app.extensions["deskbroker"] = context.Services(settings, engine, sessions, oidc.init_oidc(app, settings.oidc))
    provider = desktops.init_app(app, settings, sessions)
    app.extensions["deskbroker"].node_of = provider.node_of  # tunnels take a guacd beside their desktop
    files.init_app(app, settings, provider, more_spaces=[teacher.folder_spaces(settings)])
    teacher.init_app(app, settings, sessions)
    branding.init_app(app)
    monitoring.init_app(app)

    register_routes(app)
    errors.register_error_handlers(app)
    app.before_request(current.load_current_session)
    app.context_processor(current.template_values)
    app.teardown_appcontext(context.close_db)

    @app.after_request
    def _security_headers(response):
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
