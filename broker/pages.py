"""Server-rendered pages: sign-in, the dashboard (the start page once signed in), the file manager and
the admin dashboard. They are filled in by web/src/dashboard.js, files.js and admin.js."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template

from broker import context
from broker.auth.current import current_session
from broker.errors import Forbidden
from broker.models import ROLE_ADMIN, ROLE_TEACHER

bp = Blueprint("pages", __name__)

# Who a page is for, as the 403 page tells the others (codes translated by web/src/error.js).
FOR_ADMINS = (ROLE_ADMIN,)
FOR_TEACHERS = (ROLE_TEACHER, ROLE_ADMIN)
_REFUSALS = {
    FOR_ADMINS: ("admins_only", "This page is for administrators."),
    FOR_TEACHERS: ("teachers_only", "This page is for teachers and administrators."),
}


def app_page(template: str, entry: str, key: str, roles: tuple[str, ...] = (), **values):
    """A signed-in page of the web app (bundle `entry`, strings `<key>.title` and `<key>.heading`):
    signed out → the sign-in page at /; without one of `roles` (when given) → a 403 page."""
    record = current_session()
    if record is None:
        return redirect("/")
    if roles and not any(record.user.has_role(role) for role in roles):
        code, message = _REFUSALS[roles]
        raise Forbidden(message, code=code)
    return render_template(
        template,
        user=record.user,
        csrf_token=record.csrf_token,
        entry=entry,
        title_key=f"{key}.title",
        heading_key=f"{key}.heading",
        **values,
    )


@bp.get("/")
def home():
    settings = context.settings()
    record = current_session()
    if record is None:
        return render_template(
            "login.html",
            sso=settings.oidc.enabled,
            local=settings.auth.local_login,
            provider=settings.oidc.oidc_provider_name,
        )
    return render_template(
        "home.html",
        user=record.user,
        csrf_token=record.csrf_token,
        entry="dashboard",
        title_key="dash.title",
        heading_key="dash.heading",
    )


@bp.get("/files")
def file_manager():
    return app_page("files.html", "files", "files")


@bp.get("/admin")
def admin_dashboard():
    return app_page("admin.html", "admin", "admin", FOR_ADMINS)
