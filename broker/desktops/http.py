"""What the routes about desktops share, a person's (desktops/routes.py), admins' (admin/desktops.py)
and teachers' (teacher/routes.py): the JSON of a desktop and of a desktop type, the audit record of
an act on a desktop, and the answers to desktop and engine errors."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from sqlalchemy.orm import object_session

from broker import audit, context
from broker.auth.current import client_ip
from broker.desktops import access
from broker.desktops.errors import DesktopError
from broker.desktops.provider import EngineUnavailable, ImageMissing, ProviderError
from broker.errors import error_response
from broker.models import Desktop, DesktopType, User


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


def _time(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def desktop_json(desktop: Desktop) -> dict:
    kind = desktop.desktop_type
    return {"id": desktop.id, "desktop_type": kind.id, "title": {"de": kind.title_de, "en": kind.title_en},
            "state": desktop.state, "reason": desktop.state_reason,
            "owner": desktop.user.username if desktop.user else None, "container_id": desktop.container_id,
            "created_at": _time(desktop.created_at), "started_at": _time(desktop.started_at),
            "stopped_at": _time(desktop.stopped_at), "last_activity_at": _time(desktop.last_activity_at),
            "watched": desktop.watched, "egress": desktop.egress if desktop.container_id else kind.egress,
            "folders_pending": access.folders_pending(object_session(desktop), desktop)}


def desktop_type_json(kind: DesktopType) -> dict:
    return {"id": kind.id, "title": {"de": kind.title_de, "en": kind.title_en},
            "description": {"de": kind.description_de, "en": kind.description_en}, "icon": kind.icon,
            "egress": kind.egress}


def record(action: str, user: User, desktop: Desktop) -> None:
    """The audit log's line for an act on a desktop, committed."""
    db = context.db()
    audit.record(db, action, user, desktop.id, client_ip(), desktop_type=desktop.desktop_type_id,
                 owner=desktop.user.username if desktop.user else None)
    db.commit()
