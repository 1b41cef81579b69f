"""The older system's desktop paths: /api/container/* for a person's own desktops, and
/api/admin/container* for admins. Thin HTTP over broker.desktops.service.

A person's endpoints pick desktops by type among their own, never by id, so no request can
reach another person's desktop.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import or_, select
from sqlalchemy.orm import object_session

from broker import audit, context
from broker.admin import service as admin_service
from broker.auth.current import client_ip, current_session, login_required, require_user, role_required
from broker.desktops import access, lifecycle
from broker.desktops.events import desktop_events
from broker.desktops.states import STATES
from broker.errors import Invalid, NotFound
from broker.models import ROLE_ADMIN, Desktop, DesktopType, User

bp = Blueprint("desktops", __name__)


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


def _desktop_type() -> str | None:
    """`?desktop_type=` as the older clients send it, or the same in a JSON body."""
    body = request.get_json(silent=True)
    value = request.args.get("desktop_type") or (body.get("desktop_type") if isinstance(body, dict) else None)
    return value if isinstance(value, str) and value else None


def _record(action: str, user: User, desktop: Desktop) -> None:
    db = context.db()
    audit.record(db, action, user, desktop.id, client_ip(), desktop_type=desktop.desktop_type_id,
                 owner=desktop.user.username if desktop.user else None)
    db.commit()


@bp.post("/api/container/start")
@login_required
def start():
    user, type_id = require_user(), _desktop_type()
    if type_id is None:
        raise Invalid("Say which desktop to start: ?desktop_type=…", code="desktop_type_needed")
    desktop = lifecycle().start(context.db(), user, type_id)
    _record("desktop_start", user, desktop)
    return jsonify(desktop_json(desktop))


@bp.get("/api/container/status")
@login_required
def status():
    return jsonify(desktop_json(lifecycle().desktop_of(context.db(), require_user(), _desktop_type())))


@bp.post("/api/container/stop")
@login_required
def stop():
    user = require_user()
    desktop = lifecycle().stop(context.db(), lifecycle().desktop_of(context.db(), user, _desktop_type()))
    _record("desktop_stop", user, desktop)
    return jsonify(desktop_json(desktop))


@bp.post("/api/container/remove")
@login_required
def remove():
    user = require_user()
    desktop = lifecycle().desktop_of(context.db(), user, _desktop_type())
    lifecycle().remove(context.db(), desktop)
    _record("desktop_remove", user, desktop)
    return jsonify(removed=desktop.id)


@bp.get("/api/container/list")
@login_required
def list_own():
    user, db = require_user(), context.db()
    return jsonify(desktops=[desktop_json(d) for d in lifecycle().desktops_of(db, user)],
                   desktop_types=[desktop_type_json(kind) for kind in access.allowed_types(db, user)])


@bp.get("/api/events")
@login_required
def events():
    """Your desktops as server-sent events, whenever one changes (state, reason, last access)."""
    record = current_session()
    stream = desktop_events(context.services().sessions, record.id, record.user_id, desktop_json)
    context.close_db()  # the stream opens its own sessions, one per poll
    return Response(stream, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _any_desktop(ident: str) -> Desktop:
    """By desktop id or by the engine's container id, as the older admin pages send it."""
    desktop = context.db().scalar(select(Desktop).where(or_(Desktop.id == ident, Desktop.container_id == ident)))
    if desktop is None:
        raise NotFound("There is no such desktop.", code="no_desktop")
    return desktop


@bp.get("/api/admin/containers")
@role_required(ROLE_ADMIN)
def admin_list():
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        raise Invalid(f"state is one of {', '.join(STATES)}.")
    desktops = admin_service.desktops(context.db(), query=(request.args.get("query") or "").strip()[:255] or None,
                                      state=state, desktop_type=request.args.get("desktop_type") or None)
    return jsonify(desktops=[desktop_json(d) for d in desktops])


@bp.post("/api/admin/container/<key:desktop_id>/stop")
@role_required(ROLE_ADMIN)
def admin_stop(desktop_id: str):
    desktop = lifecycle().stop(context.db(), _any_desktop(desktop_id), reason="Stopped by an administrator.")
    _record("admin_desktop_stop", require_user(), desktop)
    return jsonify(desktop_json(desktop))


@bp.delete("/api/admin/container/<key:desktop_id>/remove")
@role_required(ROLE_ADMIN)
def admin_remove(desktop_id: str):
    desktop = _any_desktop(desktop_id)
    lifecycle().remove(context.db(), desktop)
    _record("admin_desktop_remove", require_user(), desktop)
    return jsonify(removed=desktop.id)


@bp.post("/api/admin/containers/stop-all")
@role_required(ROLE_ADMIN)
def admin_stop_all():
    stopped, problems = lifecycle().stop_all()
    db = context.db()
    audit.record(db, "admin_desktops_stop_all", require_user(), ip=client_ip(), stopped=stopped, problems=problems)
    db.commit()
    return jsonify(stopped=stopped, problems=problems)
