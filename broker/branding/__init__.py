"""Branding: the app name, logo, favicon and colours every page shows, edited by admins."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.exc import SQLAlchemyError

from broker import context
from broker.branding import service


def current_look() -> service.Look:
    """The look for this request's pages; the defaults when the database cannot be read (so even
    the page saying the database is down can be drawn)."""
    if "branding" not in g:
        try:
            g.branding = service.look(context.db())
        except SQLAlchemyError:
            g.branding = service.Look()
    return g.branding


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"branding": current_look()})
