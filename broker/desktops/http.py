"""What the routes about desktops share, a person's (desktops/routes.py), admins' (admin/desktops.py)
and teachers' (teacher/routes.py): the audit record of an act on a desktop, and the answers to desktop
and engine errors. Their JSON shapes are broker.desktops.schemas."""

from __future__ import annotations

from flask import Blueprint

from broker import audit, context
from broker.auth.current import client_ip
from broker.desktops.errors import DesktopError
from broker.desktops.provider import EngineUnavailable, ImageMissing, ProviderError
from broker.errors import error_response
from broker.models import Desktop, User


def answer_desktop_errors(bp: Blueprint) -> None:
    """The blueprint's desktop and engine errors as JSON with their status and code."""

    @bp.errorhandler(DesktopError)
    def _desktop_error(error: DesktopError):
        return error_response(error.status, error.code, error.message)

    @bp.errorhandler(ProviderError)
    def _provider_error(error: ProviderError):
        if isinstance(error, EngineUnavailable):
            return error_response(503, "engine_unavailable", str(error), {"Retry-After": "30"})
        if isinstance(error, ImageMissing):
            return error_response(503, "image_missing", str(error))
        return error_response(502, "engine_error", str(error))


def record(action: str, user: User, desktop: Desktop) -> None:
    """The audit log's line for an act on a desktop, committed."""
    db = context.db()
    audit.record(db, action, user, desktop.id, client_ip(), desktop_type=desktop.desktop_type_id,
                 owner=desktop.user.username if desktop.user else None)
    db.commit()
