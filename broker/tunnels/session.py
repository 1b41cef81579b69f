"""One Guacamole tunnel from its request to its end, without the WebSocket it runs over.

`serve(ws, request)` is the whole tunnel: it greets the viewer with the tunnel's uuid at once and
keeps it waiting with `nop`s while `open()` checks the page's origin, burns the token, finds the
desktop and its VNC password, shakes hands with guacd (on the pool's instance with the shortest
queue, in turn with the other handshakes there: guacd_pool.py, guacd.py) and logs the connection;
anything refused raises TunnelRefused, which `tell()`s the viewer why. `run(ws)` then relays between
any WebSocket-like object (relay.WebSocket) and guacd until either side ends or its access does (the
process's KillWatch), and logs the end. `close()` lets go of guacd when the tunnel never ran.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.event
from sqlalchemy.orm import Session, sessionmaker

from broker import metrics
from broker.auth.sessions import resolve_session
from broker.classroom.state import is_locked
from broker.config import Settings
from broker.crypto import decrypt
from broker.db import utcnow
from broker.images.catalog import SOUND_PORT
from broker.models import Connection, Desktop, User
from broker.origins import allowed_origins, check_origin
from broker.recordings import service as recordings
from broker.tunnels import service, sharing
from broker.tunnels.ending import end_kind
from broker.tunnels.guacd import (
    CLIENT_FORBIDDEN,
    CLIENT_UNAUTHORIZED,
    RESOURCE_NOT_FOUND,
    GuacdConnection,
    GuacdError,
    Screen,
    VncTarget,
    exclusive,
)
from broker.tunnels.guacd_pool import ViewerLeft, pool_for
from broker.tunnels.locks import LockWatch
from broker.tunnels.protocol import INTERNAL_OPCODE, encode
from broker.tunnels.relay import NOP, SESSION_CLOSED, Relay, RelayResult, Throttled, WebSocket
from broker.tunnels.resize import DesktopResizer

log = logging.getLogger(__name__)

# How often input may write the desktop's last activity: idle stop works in hours.
ACTIVITY_WRITE_SECONDS = 60
WATCHED_MARK_SECONDS = 2.0  # a watcher's sign of life for the owner's viewer (service.WATCHED_REFRESH)
# While the tunnel waits for its guacd handshake turn: guacamole-common-js gives up after 15 s without
# a message, and a class arriving at once may queue longer than that.
WAITING_NOP_SECONDS = 3.0
READ_ONLY = ("view", sharing.DEMO)  # the modes whose input never reaches the desktop
WATCHING = ("view", sharing.HELP)  # the modes whose tunnels tell the owner's viewer someone is watching
# Which open connection a tunnel of each mode joins: watchers and helpers the owner's; a demo's students
# any (none: the first opens one). A helper with nobody there opens a connection of its own.
JOINS_ANY = {"view": False, sharing.HELP: False, sharing.DEMO: True}


@dataclass(frozen=True)
class TunnelRequest:
    origin: str | None  # the Origin header the browser sent
    token: str
    # The sign-in the request brings, if any: then only its person's tokens count. Checked here, in
    # the tunnel's one database session, rather than by every request's sign-in check.
    sign_in: str | None
    screen: Screen


class TunnelRefused(Exception):
    """The tunnel does not open: `message` for people, `status` a Guacamole status code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message, self.status = message, status

    def tell(self, ws: WebSocket) -> None:
        """Tell guacamole-common-js why (after its uuid, serve()): an `error` instruction, and the status
        as the close reason."""
        ws.send(encode("error", self.message, self.status))
        ws.close(reason=1000, message=str(self.status))


class TunnelSession:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        kills: service.KillWatch,
        locks: LockWatch | None = None,
        node_of: Callable[[str], str | None] = lambda _address: None,
    ):
        # Short database sessions of its own: a tunnel lasts hours, outside any request's context.
        self.settings, self.sessions, self.kills = settings, sessions, kills
        self.node_of = node_of  # which node runs a container at an address (several nodes: Swarm)
        self.locks = locks or LockWatch(sessions)
        self.locked = False  # a teacher locked its person's screens: their input is dropped
        self.grant: service.Grant | None = None
        self.guacd: GuacdConnection | None = None
        self.record_id: str | None = None
        self.target: VncTarget | None = None
        self.screen: Screen | None = None
        self.guacd_instance = ""  # host:port of the pool's instance that holds the connection
        self.logging: gevent.Greenlet | None = None  # the connection's log, when written beside the relay
        self.tunnel_uuid = str(uuid.uuid4())
        self.recording: str | None = None  # the file name guacd records this tunnel under
        self.name = ""  # the person's, for guacd

    def __enter__(self) -> TunnelSession:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def serve(self, ws: WebSocket, request: TunnelRequest) -> RelayResult | None:
        """The whole tunnel: its uuid at once, `nop`s while it opens, then the relay (None: refused)."""
        ws.send(encode(INTERNAL_OPCODE, self.tunnel_uuid))
        opened = gevent.event.Event()
        keep_alive = gevent.spawn(_keep_waiting, ws, opened)
        refusal = None
        try:
            # `connected`: simple-websocket's, False once the browser closed it.
            self.open(request, viewer_gone=lambda: not getattr(ws, "connected", True), log_beside=True)
        except TunnelRefused as refused:
            refusal = refused
        finally:
            opened.set()  # and no `nop` once guacd's stream or the refusal may be on its way
            keep_alive.join()
        if refusal is not None:
            if getattr(ws, "connected", True):
                refusal.tell(ws)
            return None
        return self.run(ws)

    def open(
        self, request: TunnelRequest, viewer_gone: Callable[[], bool] = lambda: False, log_beside: bool = False
    ) -> None:
        """Everything before the first byte is relayed; TunnelRefused saying why it cannot open
        (also when `viewer_gone()` once its guacd turn came). `log_beside`: the owner's own
        unrecorded connection is logged while its first frame goes out (serve())."""
        try:
            self._open(request, viewer_gone, log_beside)
        except TunnelRefused as refusal:
            metrics.TUNNEL_ENDS.labels("refused", str(refusal.status)).inc()
            raise

    def _open(self, request: TunnelRequest, viewer_gone: Callable[[], bool], log_beside: bool) -> None:
        asked = time.monotonic()
        # First of all: a foreign page must not use the browser's cookies to drive a desktop.
        refused = check_origin(
            request.origin, allowed_origins(self.settings.core.public_url, self.settings.core.allowed_origins)
        )
        if refused:
            log.warning("tunnel refused: %s (allowed: DESKBROKER_PUBLIC_URL and DESKBROKER_ALLOWED_ORIGINS)", refused)
            raise TunnelRefused(f"Tunnel refused: {refused}.", CLIENT_FORBIDDEN)
        # One transaction for the sign-in, the token and the desktop: each round trip to the database
        # waits its turn on a busy server, and a class opens its desktops at once.
        with self.sessions() as db:
            signed_in = resolve_session(db, request.sign_in) if request.sign_in else None
            try:
                self.grant = grant = service.redeem_token(db, request.token, signed_in and signed_in.user_id)
            except service.ConnectRefused as exc:
                # Access ended since the token was issued: the viewer says why and does not try again.
                raise TunnelRefused(exc.message, SESSION_CLOSED if exc.reason else CLIENT_UNAUTHORIZED) from None
            self.screen = request.screen
            try:
                join = self._look_up(db, grant)
            finally:
                db.commit()  # the token's burn, also when the desktop turns out to be gone
        looked_up = time.monotonic()
        if grant.mode == sharing.DEMO and join is None:
            # Nobody is on the desktop and a class opens at once: one at a time, so that the first
            # opens a guacd connection and the others join it.
            with exclusive(f"demo-{grant.desktop_id}"):
                with self.sessions() as db:
                    join = self._look_up(db, grant)
                instance = self._connect(grant, join, viewer_gone)
        else:
            instance = self._connect(grant, join, viewer_gone)
        self.guacd_instance = instance.name
        metrics.HANDSHAKE_WAIT_SECONDS.labels(instance.name).observe(self.guacd.turn_wait_seconds)
        metrics.HANDSHAKE_SECONDS.labels(instance.name).observe(self.guacd.handshake_seconds)
        connected = time.monotonic()
        self.record_id = str(uuid.uuid4())
        if log_beside and grant.mode == "control" and not self.recording:
            # A class opening its desktops at once waits on every round trip to the database: the
            # owner's own connection is logged while its first frame is on its way. Watchers and
            # recordings are on the record before a pixel moves.
            self.logging = gevent.spawn(self._log_start_or_end, self.guacd)
        else:
            self._log_start(self.guacd.connection_id)
        log.info(
            "tunnel %s to desktop %s on guacd %s: token and desktop %.3f s, turn after %.3f s, handshake %.3f s, "
            "logged in %.3f s, open after %.3f s in all",
            self.tunnel_uuid,
            grant.desktop_id,
            instance.name,
            looked_up - asked,
            self.guacd.turn_wait_seconds,
            self.guacd.handshake_seconds,
            time.monotonic() - connected,
            time.monotonic() - asked,
        )

    def _look_up(self, db: Session, grant: service.Grant) -> tuple[str, str] | None:
        """The desktop's address, password and sound server, the person's name, their lock and the
        recording; and the live guacd connection to join (None: open one)."""
        desktop = db.get(Desktop, grant.desktop_id)
        if desktop is None or desktop.state != "running" or not desktop.address:
            raise TunnelRefused("This desktop is not running any more.", RESOURCE_NOT_FOUND)
        self.target = VncTarget(
            desktop.address,
            desktop.desktop_type.vnc_port,
            decrypt(self.settings.core.secret_key, desktop.vnc_password_encrypted),
            f"tcp:{desktop.address}:{SOUND_PORT}" if service.hears_sound(desktop, grant.mode) else "",
        )
        # From the first byte: a reload or reconnect while locked gets no input through.
        self.locked = grant.mode == "control" and is_locked(db, grant.user_id)
        person = db.get(User, grant.user_id)
        self.name = (person.display_name or person.username) if person else ""
        # Only the owner's own session is recorded (watchers and helpers join that one); its person
        # was told before the start and sees the mark while connected.
        if grant.mode == "control" and desktop.desktop_type.record_sessions:
            self.recording = recordings.new_file_name()
        if grant.mode == "control":
            return None
        return service.live_connection_id(db, desktop.id, JOINS_ANY[grant.mode])

    def _connect(self, grant: service.Grant, join: tuple[str, str] | None, viewer_gone: Callable[[], bool]):
        """guacd's connection for the tunnel, on the pool's instance; the instance."""
        node = self.node_of(self.target.host)
        try:
            self.guacd, instance = pool_for(self.settings.tier).open(
                self.target,
                self.screen,
                read_only=grant.mode in READ_ONLY,
                join=join,
                name=self.name,
                recording=self.recording,
                abandoned=viewer_gone,
                # Of equal queues, a guacd on the desktop's node: the screen's pixels stay on the node.
                beside=(lambda instance: self.node_of(instance.host) == node) if node else None,
            )
        except ViewerLeft as exc:
            log.info("tunnel to desktop %s: %s", grant.desktop_id, exc)
            raise TunnelRefused("The viewer left.", exc.status) from None
        except GuacdError as exc:
            log.warning("tunnel to desktop %s: %s", grant.desktop_id, exc)
            raise TunnelRefused(
                "The desktop service (guacd) cannot be reached. Try again in a moment.", exc.status
            ) from None
        return instance

    def run(self, ws: WebSocket) -> RelayResult:
        """Relay until the tunnel ends (after open()); closes both ends and logs how it ended."""
        grant, guacd, self.guacd = self.grant, self.guacd, None  # the relay closes guacd's side
        activity = Throttled(self._touch, ACTIVITY_WRITE_SECONDS)
        watching = Throttled(self._mark_watched, WATCHED_MARK_SECONDS)

        def check_in() -> str | None:
            """Twice a second: whether its access ended (and why); a watcher's also keeps the owner told."""
            if grant.mode in WATCHING:
                watching()
            elif grant.mode == "control":
                self.locked = self.locks.locked(grant.user_id)
            return self.kills.requested(self.record_id)

        # Control tunnels are the owner's alone (service.redeem_token): nobody else resizes the desktop.
        resizer, control = None, grant.mode == "control"
        if control and not guacd.resizes_desktop:
            resizer = DesktopResizer.for_desktop(self.target)
            resizer.ask([str(self.screen.width), str(self.screen.height)])  # the window it opens in
        metrics.TUNNELS_OPENED.labels(grant.mode).inc()
        live = metrics.TUNNELS_OPEN.labels(grant.mode)
        live.inc()
        try:
            result = Relay(
                ws,
                guacd,
                self.tunnel_uuid,
                view_only=grant.mode in READ_ONLY,
                resizes=control,
                on_activity=activity,
                kill_requested=check_in,
                on_size=resizer and resizer.ask,
                # guacd asks a connection's opener for the password: the owner's, or a helper's own.
                credentials={"password": self.target.password} if grant.mode in ("control", sharing.HELP) else None,
                input_locked=lambda: self.locked,
            ).run()
        finally:
            live.dec()
            if resizer is not None:
                resizer.stop()
        metrics.TUNNEL_ENDS.labels(
            end_kind(result.end_reason), "none" if result.status is None else str(result.status)
        ).inc()
        self._log_end(result)
        return result

    def close(self) -> None:
        if self.guacd is not None:
            self.guacd.close()
            self.guacd = None

    def _log_start_or_end(self, guacd: GuacdConnection) -> bool:
        """The connection's log beside its relay; a tunnel that cannot be logged is ended (guacd's side
        closed: the viewer reconnects), for nothing could end it then (KillWatch reads the log)."""
        try:
            self._log_start(guacd.connection_id)
            return True
        except Exception as error:
            log.warning("tunnel %s could not be logged, so it ends: %s", self.tunnel_uuid, type(error).__name__)
            guacd.close()  # the relay's, or the one it is about to take
            return False

    def _log_start(self, guacd_connection_id: str) -> None:
        grant = self.grant
        with self.sessions() as db:
            record = Connection(
                id=self.record_id,
                user_id=grant.user_id,
                desktop_id=grant.desktop_id,
                mode=grant.mode,
                protocol="guacamole",
                guacd_connection_id=guacd_connection_id,
                guacd_instance=self.guacd_instance,
                session_id=grant.session_id,
            )
            db.add(record)
            if self.recording:
                db.flush()  # the connection's row first: the recording refers to it
                recordings.start(
                    db, record.id, db.get(Desktop, grant.desktop_id), db.get(User, grant.user_id), self.recording
                )
            db.commit()
            if grant.mode in WATCHING:  # the owner's viewer says so at once, not only at the first check-in
                service.mark_watched(db, grant.desktop_id)

    def _log_end(self, result: RelayResult) -> None:
        if self.logging is not None and not self.logging.get():
            return  # never logged (and ended for it)
        with self.sessions() as db:
            record = db.get(Connection, self.record_id)
            record.ended_at = utcnow()
            record.bytes_to_client, record.bytes_from_client = result.bytes_to_browser, result.bytes_from_browser
            record.end_reason = result.end_reason[:255]
            if self.recording:
                recordings.finish(db, self.settings.tier.recording_dir, record.id)
            db.commit()

    def _mark_watched(self) -> None:
        with self.sessions() as db:
            service.mark_watched(db, self.grant.desktop_id)

    def _touch(self) -> None:
        with self.sessions() as db:
            service.record_activity(db, self.grant.desktop_id)


def _keep_waiting(ws: WebSocket, opened: gevent.event.Event) -> None:
    """A `nop` every few seconds until `opened`, so the viewer waits for guacd's stream instead of giving up."""
    while not opened.wait(WAITING_NOP_SECONDS):
        try:
            ws.send(NOP)
        except Exception:  # the viewer went away: the relay (or the refusal) finds out
            return
