"""`POST /api/desktops/<id>/connect`, the Guacamole WebSocket tunnel `/tunnel` (its work is
broker.tunnels.session's) and the calls of websockify's plugin about noVNC connections."""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, jsonify, request
from flask_sock import Sock
from sqlalchemy.orm import Session, sessionmaker

from broker import audit, context
from broker.auth.current import client_ip, credential_from, current_session, require_user
from broker.classroom.state import ScreenLocked, refuse_if_locked
from broker.crypto import decrypt
from broker.errors import Invalid, NotFound
from broker.models import Desktop, User
from broker.openapi import documented, path_id
from broker.query_args import int_arg
from broker.tunnels import ending, novnc, service, sharing
from broker.tunnels.guacd import Screen
from broker.tunnels.locks import LockWatch
from broker.tunnels.schemas import (
    ConnectAnswerSchema,
    ConnectRequestSchema,
    NovncGrantSchema,
    NovncLiveSchema,
    NovncTokenSchema,
)
from broker.tunnels.session import TunnelRequest, TunnelSession
from broker.tunnels.websocket import await_close_reply, send_whole_frames

bp = Blueprint("tunnels", __name__)
sock = Sock()

WEBSOCKET_OPTIONS = {"subprotocols": ["guacamole"], "max_message_size": 64 * 1024}
KILL_WATCH = "deskbroker.tunnels.kill_watch"
LOCK_WATCH = "deskbroker.tunnels.lock_watch"
NOVNC_CHECK_SECONDS = 1.0  # how often websockify asks whether a noVNC connection's access ended


@bp.post("/api/desktops/<key:desktop_id>/connect")
@documented(
    "A single-use, 30-second permission to open a desktop in the viewer",
    description="guacamole: open `WSS /tunnel?token=…&width=…&height=…&dpi=…` (subprotocol `guacamole`). "
    "novnc (owner only): open `websockify_url` with `password`. Others' desktops: mode view, "
    "for admins and for teachers of the owner's groups; mode help (with control; audited, the owner "
    "sees who and can end it) likewise, unless DESKBROKER_CLASSROOM_CONTROL is off; mode demo (view "
    "only) for the students of a group whose teacher shows them this desktop.",
    params=[path_id("desktop_id", "The desktop's id")],
    body=ConnectRequestSchema,
    body_required=False,
    responses={
        200: ("How to connect", ConnectAnswerSchema),
        400: "Bad mode or protocol",
        401: "Not signed in",
        403: "noVNC for someone else's desktop or while a teacher has locked your screens (screen_locked), "
        "watching turned off on this installation (watching_off), help while control is turned off "
        "(control_disabled)",
        404: "No such desktop (or not yours), or noVNC not set up",
        409: "The desktop is not running",
    },
)
def connect(desktop_id: str):
    user = require_user()
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    mode, protocol = str(body.get("mode", "control")), str(body.get("protocol", "guacamole"))
    db = context.db()
    classroom = context.settings().classroom
    desktop = service.authorize(
        db,
        user,
        desktop_id,
        mode,
        protocol,
        watching=classroom.classroom_watching,
        control_allowed=classroom.classroom_control,
    )
    if mode == sharing.HELP:  # taking control of someone else's desktop is on the record
        audit.record(db, "desktop_help", user, f"desktop:{desktop.id}", client_ip(), owner=desktop.user.username)
    if protocol == "novnc":
        refuse_if_locked(db, user)  # its input would go past the broker's relay
        answer = _novnc_answer(db, user, desktop)
        db.commit()
        return jsonify(answer)
    token = service.issue_token(db, user, desktop, mode, current_session().id)
    db.commit()
    return jsonify(
        protocol="guacamole",
        tunnel_url="/tunnel",
        token=token,
        sound=service.hears_sound(desktop, mode),
        expires_in=service.TOKEN_TTL_SECONDS,
    )


def _novnc_answer(db: Session, user: User, desktop: Desktop) -> dict:
    from broker.tunnels import vnc_token

    settings = context.settings()
    if not settings.tier.websockify_key:
        raise NotFound("The noVNC viewer is not set up on this server.", code="novnc_disabled")
    jti = secrets.token_urlsafe(24)
    service.issue_token(db, user, desktop, "control", current_session().id, token=jti)  # websockify redeems it
    token = vnc_token.sign(
        settings.tier.websockify_key.encode(),
        desktop.address,
        desktop.desktop_type.vnc_port,
        ttl=service.TOKEN_TTL_SECONDS,
        jti=jti,
    )
    return {
        "protocol": "novnc",
        "websockify_url": f"/websockify?token={token}",
        "password": decrypt(settings.core.secret_key, desktop.vnc_password_encrypted),
        "expires_in": service.TOKEN_TTL_SECONDS,
    }


def _websockify_key() -> bytes:
    key = context.settings().tier.websockify_key
    if not key:
        raise NotFound("The noVNC viewer is not set up on this server.", code="novnc_disabled")
    return key.encode()


@bp.post("/api/tunnels/novnc/open")
@documented(
    "For websockify's token plugin: redeem a websockify token before proxying",
    public=True,
    description="Burns the token's record and checks that the sign-in, account and desktop run it was issued "
    "under still hold; logs the connection. `key` authorises the calls below.",
    body=NovncTokenSchema,
    body_required=False,
    responses={
        201: ("Proxy it", NovncGrantSchema),
        400: "No token",
        401: "Invalid, expired or used token",
        403: "Its access ended (error says why: signed_out, account_disabled, ...), or its person's screens are "
        "locked (screen_locked)",
        404: "noVNC not set up",
    },
)
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
@documented(
    "For websockify: does a noVNC connection's access still hold? (asked every second)",
    public=True,
    params=[{"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}],
    responses={
        200: ("It holds", NovncLiveSchema),
        404: "No such connection, or a wrong key",
        410: "Its access ended, or its person's screens were locked (screen_locked): `error` is the reason, "
        "`message` the words for people",
    },
)
def novnc_status(connection_id: str):
    """Asked every second by the websockify process relaying it: 410 with the reason once access ended."""
    connection_id = _novnc_connection(connection_id)
    context.close_db()
    reason = _kill_watch(context.services().sessions).requested(connection_id)
    with context.services().sessions() as db:
        if novnc.owner_locked(db, connection_id):
            novnc.end_connection(db, connection_id, "its person's screens were locked by a teacher")
            return jsonify(live=False, error=ScreenLocked.code, message=ScreenLocked().message), 410
    if reason:
        with context.services().sessions() as db:
            novnc.end_connection(db, connection_id, ending.REASONS[reason].logged)
        return jsonify(live=False, error=reason, message=ending.REASONS[reason].message), 410
    return jsonify(live=True)


@bp.post("/api/tunnels/novnc/<key:connection_id>/end")
@documented(
    "For websockify: the noVNC connection closed",
    public=True,
    params=[{"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}],
    responses={204: {"description": "Logged"}, 404: "No such connection, or a wrong key"},
)
def novnc_end(connection_id: str):
    """websockify says the connection closed."""
    novnc.end_connection(context.db(), _novnc_connection(connection_id), "closed")
    return "", 204


@bp.before_request
def _whole_frames() -> None:
    if request.endpoint == "tunnels.tunnel":
        send_whole_frames(request.environ)


@sock.route("/tunnel", bp=bp)
def tunnel(ws):
    """The Guacamole tunnel: a shell around a TunnelSession."""
    services, credential = context.services(), credential_from(request)
    context.close_db()  # a tunnel lasts hours: it must hold no database connection of the request's
    asked = TunnelRequest(
        request.headers.get("Origin"), request.args.get("token", ""), credential and credential.token, _screen()
    )
    watches = _kill_watch(services.sessions), _lock_watch(services.sessions)
    with TunnelSession(services.settings, services.sessions, *watches, node_of=services.node_of) as session:
        session.serve(ws, asked)
    await_close_reply(ws)  # logged and closed: the socket goes once the browser has answered


def _screen() -> Screen:
    """The browser's window as the tunnel's query gives it; out-of-range values fall back or are clamped."""
    return Screen(
        int_arg("width", 1024, 64, 8192, lenient=True),
        int_arg("height", 768, 64, 8192, lenient=True),
        int_arg("dpi", 96, 48, 480, lenient=True),
        request.args.get("timezone", "")[:64],
    )


def _kill_watch(sessions: sessionmaker[Session]) -> service.KillWatch:
    """One per app, i.e. per worker process: its tunnels share one query. It vouches for them once per
    housekeeping interval; housekeeping ends those nobody vouched for in three (their process died)."""
    if KILL_WATCH not in current_app.extensions:
        current_app.extensions[KILL_WATCH] = service.KillWatch(
            sessions, vouch_every=context.settings().desktops.housekeeping_interval
        )
    return current_app.extensions[KILL_WATCH]


def _lock_watch(sessions: sessionmaker[Session]) -> LockWatch:
    """One per app, like the kill watch: its tunnels share one query for locked screens."""
    return current_app.extensions.setdefault(LOCK_WATCH, LockWatch(sessions))
