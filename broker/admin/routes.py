"""/api/admin/connections, /api/admin/audit, /api/admin/users: thin HTTP over broker.admin.service."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request

from broker import audit, context
from broker.admin import service
from broker.auth.current import client_ip, require_user, role_required
from broker.errors import ApiError
from broker.models import ROLE_ADMIN, AuditEvent, Connection, Desktop, User

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
        raise ApiError(400, "bad_request", f"{name} must be a whole number.") from None
    if value < low:
        raise ApiError(400, "bad_request", f"{name} must be at least {low}.")
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


@bp.get("/api/admin/connections")
@role_required(ROLE_ADMIN)
def connections():
    live = request.args.get("live", "").lower()
    if live not in ("", "true", "false"):
        raise ApiError(400, "bad_request", "live is true or false.")
    limit, offset = _paging()
    page = service.connections(context.db(), live={"": None, "true": True, "false": False}[live],
                               limit=limit, offset=offset)
    return _listing("connections", page, [connection_json(c) for c in page.items], limit, offset)


@bp.post("/api/admin/connections/<connection_id>/kill")
@role_required(ROLE_ADMIN)
def kill(connection_id: str):
    db = context.db()
    try:
        record = service.request_kill(db, connection_id)
    except service.ConnectionNotLive:
        raise ApiError(409, "connection_ended", "This connection has ended already.") from None
    if record is None:
        raise ApiError(404, "no_connection", "There is no such connection.")
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
