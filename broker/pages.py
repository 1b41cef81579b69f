"""Server-rendered pages: sign-in and a start page showing who is signed in."""

from __future__ import annotations

from flask import Blueprint, render_template

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
    return render_template("home.html", user=record.user, csrf_token=record.csrf_token)
