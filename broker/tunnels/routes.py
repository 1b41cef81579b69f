"""`POST /api/desktops/<id>/connect` and the Guacamole WebSocket tunnel `/tunnel`."""

from __future__ import annotations

import logging
import secrets
import uuid

from flask import Blueprint, current_app, jsonify, request
from flask_sock import Sock
from sqlalchemy.orm import Session, sessionmaker

from broker import context
from broker.auth.current import current_session, current_user, require_user
from broker.crypto import decrypt
from broker.db import utcnow
from broker.errors import Invalid, NotFound
from broker.models import Connection, Desktop, User
from broker.tunnels import ending, novnc, service
from broker.tunnels.guacd import (CLIENT_FORBIDDEN, CLIENT_UNAUTHORIZED, RESOURCE_NOT_FOUND, GuacdError, Screen,
                                  VncTarget, open_connection)
from broker.tunnels.origins import allowed_origins, check_origin
from broker.tunnels.protocol import INTERNAL_OPCODE, encode
from broker.tunnels.relay import SESSION_CLOSED, Relay, RelayResult, Throttled
from broker.tunnels.websocket import send_whole_frames

bp = Blueprint("tunnels", __name__)
sock = Sock()
log = logging.getLogger(__name__)

# How often input may write the desktop's last activity: idle stop works in hours.
ACTIVITY_WRITE_SECONDS = 60
WATCHED_MARK_SECONDS = 2.0  # a watcher's sign of life for the owner's viewer (service.WATCHED_REFRESH)
WEBSOCKET_OPTIONS = {"subprotocols": ["guacamole"], "max_message_size": 64 * 1024}
KILL_WATCH = "deskbroker.tunnels.kill_watch"
NOVNC_CHECK_SECONDS = 1.0  # how often websockify asks whether a noVNC connection's access ended


@bp.post("/api/desktops/<key:desktop_id>/connect")
def connect(desktop_id: str):
    user = require_user()
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    mode, protocol = str(body.get("mode", "control")), str(body.get("protocol", "guacamole"))
    db = context.db()
    desktop = service.authorize(db, user, desktop_id, mode, protocol)
    if protocol == "novnc":
        answer = _novnc_answer(db, user, desktop)
        db.commit()
        return jsonify(answer)
    token = service.issue_token(db, user, desktop, mode, current_session().id)
    db.commit()
    return jsonify(protocol="guacamole", tunnel_url="/tunnel", token=token, expires_in=service.TOKEN_TTL_SECONDS)


def _novnc_answer(db: Session, user: User, desktop: Desktop) -> dict:
    from broker.tunnels import vnc_token

    settings = context.settings()
    if not settings.tier.websockify_key:
        raise NotFound("The noVNC viewer is not set up on this server.", code="novnc_disabled")
    jti = secrets.token_urlsafe(24)
    service.issue_token(db, user, desktop, "control", current_session().id, token=jti)  # websockify redeems it
    token = vnc_token.sign(settings.tier.websockify_key.encode(), desktop.address, desktop.desktop_type.vnc_port,
                           ttl=service.TOKEN_TTL_SECONDS, jti=jti)
    return {"protocol": "novnc", "websockify_url": f"/websockify?token={token}",
            "password": decrypt(settings.core.secret_key, desktop.vnc_password_encrypted),
            "expires_in": service.TOKEN_TTL_SECONDS}


def _websockify_key() -> bytes:
    key = context.settings().tier.websockify_key
    if not key:
        raise NotFound("The noVNC viewer is not set up on this server.", code="novnc_disabled")
    return key.encode()


@bp.post("/api/tunnels/novnc/open")
def novnc_open():
    """websockify's plugin, before it proxies: is the token's access still there? Logs the connection."""
    key, body = _websockify_key(), request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise Invalid("Send JSON with the token.")
    record, connection_key = novnc.open_connection(context.db(), key, token)
    return jsonify(connection_id=record.id, key=connection_key, check_every=NOVNC_CHECK_SECONDS), 201


def _novnc_connection(connection_id: str) -> str:
    """The connection id, once the caller showed the key the broker gave its websockify process."""
    if not novnc.key_matches(_websockify_key(), connection_id, request.args.get("key", "")):
        raise NotFound("There is no such connection.", code="no_connection")
    return connection_id


@bp.get("/api/tunnels/novnc/<key:connection_id>")
def novnc_status(connection_id: str):
    """Asked every second by the websockify process relaying it: 410 with the reason once access ended."""
    connection_id = _novnc_connection(connection_id)
    context.close_db()
    reason = _kill_watch(context.services().sessions).requested(connection_id)
    if reason:
        with context.services().sessions() as db:
            novnc.end_connection(db, connection_id, ending.REASONS[reason].logged)
        return jsonify(live=False, error=reason, message=ending.REASONS[reason].message), 410
    return jsonify(live=True)


@bp.post("/api/tunnels/novnc/<key:connection_id>/end")
def novnc_end(connection_id: str):
    """websockify says the connection closed."""
    novnc.end_connection(context.db(), _novnc_connection(connection_id), "closed")
    return "", 204


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(request.args.get(name, default)), low), high)
    except ValueError:
        return default


def _refuse(ws, message: str, status: int) -> None:
    """Tell guacamole-common-js why: an `error` instruction, and the status as the close reason."""
    ws.send(encode(INTERNAL_OPCODE, str(uuid.uuid4())))
    ws.send(encode("error", message, status))
    ws.close(reason=1000, message=str(status))


@bp.before_request
def _whole_frames() -> None:
    if request.endpoint == "tunnels.tunnel":
        send_whole_frames(request.environ)


@sock.route("/tunnel", bp=bp)
def tunnel(ws):
    services = context.services()
    settings = services.settings
    # First of all: a foreign page must not use the browser's cookies to drive a desktop.
    refused = check_origin(request.headers.get("Origin"),
                           allowed_origins(settings.core.public_url, settings.core.allowed_origins))
    if refused:
        log.warning("tunnel refused: %s (allowed: DESKBROKER_PUBLIC_URL and DESKBROKER_ALLOWED_ORIGINS)", refused)
        return _refuse(ws, f"Tunnel refused: {refused}.", CLIENT_FORBIDDEN)
    user = current_user()
    holder = user.id if user else None
    context.close_db()  # a tunnel lasts hours: it must not hold the sign-in check's database connection
    with services.sessions() as db:
        try:
            grant = service.redeem_token(db, request.args.get("token", ""), holder)
        except service.ConnectRefused as exc:
            # Access ended since the token was issued: the viewer says why and does not try again.
            return _refuse(ws, exc.message, SESSION_CLOSED if exc.reason else CLIENT_UNAUTHORIZED)
        desktop = db.get(Desktop, grant.desktop_id)
        if desktop is None or desktop.state != "running" or not desktop.address:
            return _refuse(ws, "This desktop is not running any more.", RESOURCE_NOT_FOUND)
        target = VncTarget(desktop.address, desktop.desktop_type.vnc_port,
                           decrypt(settings.core.secret_key, desktop.vnc_password_encrypted))
        join = service.live_connection_id(db, desktop.id) if grant.mode == "view" else None
    screen = Screen(_int_arg("width", 1024, 64, 8192), _int_arg("height", 768, 64, 8192),
                    _int_arg("dpi", 96, 48, 480), request.args.get("timezone", "")[:64])
    try:
        guacd = open_connection(settings.tier.guacd_host, settings.tier.guacd_port, target, screen,
                                read_only=grant.mode == "view", join=join)
    except GuacdError as exc:
        log.warning("tunnel to desktop %s: %s", grant.desktop_id, exc)
        return _refuse(ws, "The desktop service (guacd) cannot be reached. Try again in a moment.", exc.status)

    # The relay's greenlets run outside the request's context: they get the session factory itself.
    sessions = services.sessions
    record_id = _log_start(sessions, grant, guacd.connection_id)
    activity = Throttled(lambda: _touch(sessions, grant.desktop_id), ACTIVITY_WRITE_SECONDS)
    kills = _kill_watch(sessions)
    watching = Throttled(lambda: _mark_watched(sessions, grant.desktop_id), WATCHED_MARK_SECONDS)

    def check_in() -> str | None:
        """Twice a second: whether its access ended (and why); a watcher's also keeps the owner told."""
        if grant.mode == "view":
            watching()
        return kills.requested(record_id)

    result = Relay(ws, guacd, str(uuid.uuid4()), view_only=grant.mode == "view", on_activity=activity,
                   kill_requested=check_in).run()
    _log_end(sessions, record_id, result)


def _kill_watch(sessions: sessionmaker[Session]) -> service.KillWatch:
    """One per app, i.e. per worker process: its tunnels share one query. It vouches for them once per
    housekeeping interval; housekeeping ends those nobody vouched for in three (their process died)."""
    if KILL_WATCH not in current_app.extensions:
        current_app.extensions[KILL_WATCH] = service.KillWatch(
            sessions, vouch_every=context.settings().desktops.housekeeping_interval)
    return current_app.extensions[KILL_WATCH]


def _log_start(sessions: sessionmaker[Session], grant: service.Grant, guacd_connection_id: str) -> str:
    with sessions() as db:
        record = Connection(id=str(uuid.uuid4()), user_id=grant.user_id, desktop_id=grant.desktop_id,
                            mode=grant.mode, protocol="guacamole", guacd_connection_id=guacd_connection_id,
                            session_id=grant.session_id)
        db.add(record)
        db.commit()
        if grant.mode == "view":  # the owner's viewer says so at once, not only at the first check-in
            service.mark_watched(db, grant.desktop_id)
        return record.id


def _log_end(sessions: sessionmaker[Session], record_id: str, result: RelayResult) -> None:
    with sessions() as db:
        record = db.get(Connection, record_id)
        record.ended_at = utcnow()
        record.bytes_to_client, record.bytes_from_client = result.bytes_to_browser, result.bytes_from_browser
        record.end_reason = result.end_reason[:255]
        db.commit()


def _mark_watched(sessions: sessionmaker[Session], desktop_id: str) -> None:
    with sessions() as db:
        service.mark_watched(db, desktop_id)


def _touch(sessions: sessionmaker[Session], desktop_id: str) -> None:
    with sessions() as db:
        service.record_activity(db, desktop_id)
