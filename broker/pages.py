"""Server-rendered pages: sign-in, the dashboard (the start page once signed in) and the file manager.
The dashboard and file manager are filled in by web/src/dashboard.js and files.js."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template

from broker import context
from broker.auth.current import current_session

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    settings = context.settings()
    record = current_session()
    if record is None:
        return render_template("login.html", sso=settings.oidc_enabled, local=settings.local_login,
                               provider=settings.oidc_provider_name)
    return render_template("home.html", user=record.user, csrf_token=record.csrf_token, entry="dashboard",
                           title_key="dash.title", heading_key="dash.heading")


@bp.get("/files")
def file_manager():
    record = current_session()
    if record is None:
        return redirect("/")
    return render_template("files.html", user=record.user, csrf_token=record.csrf_token, entry="files",
                           title_key="files.title", heading_key="files.heading")
