"""One Guacamole tunnel from its request to its end, without the WebSocket it runs over.

`open()` checks the page's origin, burns the token, finds the desktop and its VNC password, shakes
hands with guacd (in turn with the other handshakes, guacd.py) and logs the connection; anything
refused raises TunnelRefused, which `tell()`s the viewer why. `run(ws)` relays between any
WebSocket-like object (relay.WebSocket) and guacd until either side ends or its access does (the
process's KillWatch), then logs the end. `close()` lets go of guacd when the tunnel never ran.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from broker.config import Settings
from broker.crypto import decrypt
from broker.db import utcnow
from broker.models import Connection, Desktop, User
from broker.origins import allowed_origins, check_origin
from broker.tunnels import service, sharing
from broker.tunnels.guacd import (
    CLIENT_FORBIDDEN,
    CLIENT_UNAUTHORIZED,
    RESOURCE_NOT_FOUND,
    GuacdConnection,
    GuacdError,
    Screen,
    VncTarget,
    exclusive,
    open_connection,
)
from broker.tunnels.protocol import INTERNAL_OPCODE, encode
from broker.tunnels.relay import SESSION_CLOSED, Relay, RelayResult, Throttled, WebSocket
from broker.tunnels.resize import DesktopResizer

log = logging.getLogger(__name__)

# How often input may write the desktop's last activity: idle stop works in hours.
ACTIVITY_WRITE_SECONDS = 60
WATCHED_MARK_SECONDS = 2.0  # a watcher's sign of life for the owner's viewer (service.WATCHED_REFRESH)
READ_ONLY = ("view", sharing.DEMO)  # the modes whose input never reaches the desktop
WATCHING = ("view", sharing.HELP)  # the modes whose tunnels tell the owner's viewer someone is watching
# Which open connection a tunnel of each mode joins: watchers and helpers the owner's; a demo's students
# any (none: the first opens one). A helper with nobody there opens a connection of its own.
JOINS_ANY = {"view": False, sharing.HELP: False, sharing.DEMO: True}


@dataclass(frozen=True)
class TunnelRequest:
    origin: str | None  # the Origin header the browser sent
    token: str
    holder: int | None  # who is signed in on the request, if anyone: only their tokens count
    screen: Screen


class TunnelRefused(Exception):
    """The tunnel does not open: `message` for people, `status` a Guacamole status code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message, self.status = message, status

    def tell(self, ws: WebSocket) -> None:
        """Tell guacamole-common-js why: an `error` instruction, and the status as the close reason."""
        ws.send(encode(INTERNAL_OPCODE, str(uuid.uuid4())))
        ws.send(encode("error", self.message, self.status))
        ws.close(reason=1000, message=str(self.status))


class TunnelSession:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], kills: service.KillWatch):
        # Short database sessions of its own: a tunnel lasts hours, outside any request's context.
        self.settings, self.sessions, self.kills = settings, sessions, kills
        self.grant: service.Grant | None = None
        self.guacd: GuacdConnection | None = None
        self.record_id: str | None = None
        self.target: VncTarget | None = None
        self.screen: Screen | None = None
        self.name = ""  # the person's, for guacd

    def __enter__(self) -> TunnelSession:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def open(self, request: TunnelRequest) -> None:
        """Everything before the first byte is relayed; TunnelRefused saying why it cannot open."""
        # First of all: a foreign page must not use the browser's cookies to drive a desktop.
        refused = check_origin(
            request.origin, allowed_origins(self.settings.core.public_url, self.settings.core.allowed_origins)
        )
        if refused:
            log.warning("tunnel refused: %s (allowed: DESKBROKER_PUBLIC_URL and DESKBROKER_ALLOWED_ORIGINS)", refused)
            raise TunnelRefused(f"Tunnel refused: {refused}.", CLIENT_FORBIDDEN)
        with self.sessions() as db:
            try:
                self.grant = grant = service.redeem_token(db, request.token, request.holder)
            except service.ConnectRefused as exc:
                # Access ended since the token was issued: the viewer says why and does not try again.
                raise TunnelRefused(exc.message, SESSION_CLOSED if exc.reason else CLIENT_UNAUTHORIZED) from None
        self.screen = request.screen
        join = self._look_up(grant)
        if grant.mode == sharing.DEMO and join is None:
            # Nobody is on the desktop and a class opens at once: one at a time, so that the first
            # opens a guacd connection and the others join it.
            with exclusive(f"demo-{grant.desktop_id}"):
                self._open(grant, self._look_up(grant))
        else:
            self._open(grant, join)

    def _look_up(self, grant: service.Grant) -> str | None:
        """The desktop's address and password, the person's name, and the live guacd connection to
        join (None: open one)."""
        with self.sessions() as db:
            desktop = db.get(Desktop, grant.desktop_id)
            if desktop is None or desktop.state != "running" or not desktop.address:
                raise TunnelRefused("This desktop is not running any more.", RESOURCE_NOT_FOUND)
            self.target = VncTarget(
                desktop.address,
                desktop.desktop_type.vnc_port,
                decrypt(self.settings.core.secret_key, desktop.vnc_password_encrypted),
            )
            person = db.get(User, grant.user_id)
            self.name = (person.display_name or person.username) if person else ""
            if grant.mode == "control":
                return None
            return service.live_connection_id(db, desktop.id, JOINS_ANY[grant.mode])

    def _open(self, grant: service.Grant, join: str | None) -> None:
        try:
            self.guacd = open_connection(
                self.settings.tier.guacd_host,
                self.settings.tier.guacd_port,
                self.target,
                self.screen,
                read_only=grant.mode in READ_ONLY,
                join=join,
                name=self.name,
            )
        except GuacdError as exc:
            log.warning("tunnel to desktop %s: %s", grant.desktop_id, exc)
            raise TunnelRefused(
                "The desktop service (guacd) cannot be reached. Try again in a moment.", exc.status
            ) from None
        self.record_id = self._log_start()

    def run(self, ws: WebSocket) -> RelayResult:
        """Relay until the tunnel ends (after open()); closes both ends and logs how it ended."""
        grant, guacd, self.guacd = self.grant, self.guacd, None  # the relay closes guacd's side
        activity = Throttled(self._touch, ACTIVITY_WRITE_SECONDS)
        watching = Throttled(self._mark_watched, WATCHED_MARK_SECONDS)

        def check_in() -> str | None:
            """Twice a second: whether its access ended (and why); a watcher's also keeps the owner told."""
            if grant.mode in WATCHING:
                watching()
            return self.kills.requested(self.record_id)

        # Control tunnels are the owner's alone (service.redeem_token): nobody else resizes the desktop.
        resizer, control = None, grant.mode == "control"
        if control and not guacd.resizes_desktop:
            resizer = DesktopResizer.for_desktop(self.target)
            resizer.ask([str(self.screen.width), str(self.screen.height)])  # the window it opens in
        try:
            result = Relay(
                ws,
                guacd,
                str(uuid.uuid4()),
                view_only=grant.mode in READ_ONLY,
                resizes=control,
                on_activity=activity,
                kill_requested=check_in,
                on_size=resizer and resizer.ask,
                # guacd asks a connection's opener for the password: the owner's, or a helper's own.
                credentials={"password": self.target.password} if grant.mode in ("control", sharing.HELP) else None,
            ).run()
        finally:
            if resizer is not None:
                resizer.stop()
        self._log_end(result)
        return result

    def close(self) -> None:
        if self.guacd is not None:
            self.guacd.close()
            self.guacd = None

    def _log_start(self) -> str:
        grant = self.grant
        with self.sessions() as db:
            record = Connection(
                id=str(uuid.uuid4()),
                user_id=grant.user_id,
                desktop_id=grant.desktop_id,
                mode=grant.mode,
                protocol="guacamole",
                guacd_connection_id=self.guacd.connection_id,
                session_id=grant.session_id,
            )
            db.add(record)
            db.commit()
            if grant.mode in WATCHING:  # the owner's viewer says so at once, not only at the first check-in
                service.mark_watched(db, grant.desktop_id)
            return record.id

    def _log_end(self, result: RelayResult) -> None:
        with self.sessions() as db:
            record = db.get(Connection, self.record_id)
            record.ended_at = utcnow()
            record.bytes_to_client, record.bytes_from_client = result.bytes_to_browser, result.bytes_from_browser
            record.end_reason = result.end_reason[:255]
            db.commit()

    def _mark_watched(self) -> None:
        with self.sessions() as db:
            service.mark_watched(db, self.grant.desktop_id)

    def _touch(self) -> None:
        with self.sessions() as db:
            service.record_activity(db, self.grant.desktop_id)
