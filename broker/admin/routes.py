"""/api/admin/stats, connections, audit, users and desktop-types: thin HTTP over broker.admin.service
and broker.admin.catalog. (Everyone's desktops are in broker/desktops/routes.py.)"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request

from broker import audit, context
from broker.admin import catalog, service
from broker.auth.current import client_ip, require_user, role_required
from broker.errors import Invalid, NotFound
from broker.models import ROLE_ADMIN, AuditEvent, Connection, Desktop, DesktopType, User

bp = Blueprint("admin", __name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _time(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be a whole number.") from None
    if value < low:
        raise Invalid(f"{name} must be at least {low}.")
    return min(value, high)


def _paging() -> tuple[int, int]:
    return _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), _int_arg("offset", 0, 0, 10**9)


def _listing(name: str, page: service.Page, items: list[dict], limit: int, offset: int):
    return jsonify({name: items, "total": page.total, "limit": limit, "offset": offset})


def connection_json(record: Connection) -> dict:
    desktop = record.desktop
    return {"id": record.id, "user": record.user.username if record.user else None, "user_id": record.user_id,
            "desktop_id": record.desktop_id, "desktop_type": desktop.desktop_type_id if desktop else None,
            "mode": record.mode, "protocol": record.protocol, "live": record.ended_at is None,
            "started_at": _time(record.started_at), "ended_at": _time(record.ended_at),
            "bytes_to_client": record.bytes_to_client, "bytes_from_client": record.bytes_from_client,
            "end_reason": record.end_reason, "kill_requested_at": _time(record.kill_requested_at)}


def audit_json(event: AuditEvent) -> dict:
    return {"id": event.id, "at": _time(event.at), "actor": event.actor, "actor_id": event.actor_id,
            "action": event.action, "target": event.target, "ip": event.ip, "details": event.details or {}}


def _desktop_json(desktop: Desktop) -> dict:
    return {"id": desktop.id, "desktop_type": desktop.desktop_type_id, "state": desktop.state,
            "last_activity_at": _time(desktop.last_activity_at)}


def user_json(user: User, desktops: list[Desktop]) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "email": user.email,
            "auth_source": user.auth_source, "roles": user.role_names,
            "groups": [{"key": g.key, "name": g.name} for g in sorted(user.groups, key=lambda g: g.key)],
            "disabled": user.disabled, "created_at": _time(user.created_at),
            "last_login_at": _time(user.last_login_at), "desktops": [_desktop_json(d) for d in desktops]}


def desktop_type_json(kind: DesktopType, desktops: int) -> dict:
    return {"id": kind.id, "source": kind.source, "enabled": kind.enabled, "image": kind.image,
            "title": {"de": kind.title_de, "en": kind.title_en},
            "description": {"de": kind.description_de, "en": kind.description_en}, "icon": kind.icon,
            "vnc_port": kind.vnc_port, "memory_mb": kind.memory_mb, "cpus": kind.cpus, "pids_limit": kind.pids_limit,
            "shm_size_mb": kind.shm_size_mb, "max_running": kind.max_running, "egress": kind.egress,
            "admin_fields": list(kind.admin_fields or []), "desktops": desktops}


@bp.get("/api/admin/stats")
@role_required(ROLE_ADMIN)
def stats():
    figures = service.statistics(context.db())
    return jsonify({"total": figures.total, "running": figures.running, "active_users": figures.active_users,
                    "live_connections": figures.live_connections, "states": figures.states,
                    "per_type": [{"desktop_type": t.desktop_type, "total": t.total, "running": t.running,
                                  "live_connections": t.live_connections} for t in figures.per_type]})


@bp.get("/api/admin/connections")
@role_required(ROLE_ADMIN)
def connections():
    live = request.args.get("live", "").lower()
    if live not in ("", "true", "false"):
        raise Invalid("live is true or false.")
    limit, offset = _paging()
    page = service.connections(context.db(), live={"": None, "true": True, "false": False}[live],
                               limit=limit, offset=offset)
    return _listing("connections", page, [connection_json(c) for c in page.items], limit, offset)


@bp.post("/api/admin/connections/<key:connection_id>/kill")
@role_required(ROLE_ADMIN)
def kill(connection_id: str):
    db = context.db()
    record = service.request_kill(db, connection_id)
    if record is None:
        raise NotFound("There is no such connection.", code="no_connection")
    audit.record(db, "admin_connection_kill", require_user(), record.id, client_ip(),
                 user=record.user.username if record.user else None, desktop=record.desktop_id, mode=record.mode)
    db.commit()
    return jsonify(connection_json(record)), 202


@bp.get("/api/admin/audit")
@role_required(ROLE_ADMIN)
def audit_log():
    limit, offset = _paging()
    page = service.audit_events(context.db(), action=request.args.get("action") or None, limit=limit, offset=offset)
    return _listing("events", page, [audit_json(e) for e in page.items], limit, offset)


@bp.get("/api/admin/users")
@role_required(ROLE_ADMIN)
def users():
    limit, offset = _paging()
    page, desktops = service.users(context.db(), query=(request.args.get("query") or "").strip()[:255] or None,
                                   limit=limit, offset=offset)
    return _listing("users", page, [user_json(u, desktops.get(u.id, [])) for u in page.items], limit, offset)


@bp.get("/api/admin/desktop-types")
@role_required(ROLE_ADMIN)
def desktop_types():
    return jsonify(desktop_types=[desktop_type_json(kind, count) for kind, count in catalog.all_types(context.db())])


def _audited_type(action: str | None, kind: DesktopType, status: int = 200, **details):
    """The type as JSON after recording `action` (None: nothing changed, nothing to record)."""
    db = context.db()
    if action:
        audit.record(db, action, require_user(), kind.id, client_ip(), **details)
    db.commit()
    return jsonify(desktop_type_json(kind, catalog.desktop_count(db, kind))), status


@bp.post("/api/admin/desktop-types")
@role_required(ROLE_ADMIN)
def create_desktop_type():
    kind = catalog.create_type(context.db(), request.get_json(silent=True))
    return _audited_type("admin_desktop_type_create", kind, 201, image=kind.image)


@bp.patch("/api/admin/desktop-types/<key:type_id>")
@role_required(ROLE_ADMIN)
def update_desktop_type(type_id: str):
    kind, changed = catalog.update_type(context.db(), type_id, request.get_json(silent=True))
    return _audited_type("admin_desktop_type_update" if changed else None, kind, changed=changed)


@bp.post("/api/admin/desktop-types/<key:type_id>/icon")
@role_required(ROLE_ADMIN)
def desktop_type_icon(type_id: str):
    upload = request.files.get("icon")
    if upload is None:
        raise Invalid("Send the picture as the multipart form field `icon`.")
    kind, kind_of_picture = catalog.set_icon(context.db(), type_id, upload.stream.read(catalog.ICON_MAX_BYTES + 1))
    return _audited_type("admin_desktop_type_icon", kind, picture=kind_of_picture)


@bp.delete("/api/admin/desktop-types/<key:type_id>")
@role_required(ROLE_ADMIN)
def delete_desktop_type(type_id: str):
    db = context.db()
    kind = catalog.delete_type(db, type_id)
    audit.record(db, "admin_desktop_type_delete", require_user(), kind.id, client_ip(), image=kind.image)
    db.commit()
    return jsonify(deleted=kind.id)
