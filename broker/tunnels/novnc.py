"""noVNC connections, as websockify's token plugin asks about them (guacd/websockify/).

The broker signs a websockify token (vnc_token) and keeps a tunnel token row under the token's id,
bound to the sign-in, like a Guacamole tunnel token. websockify checks the signature and asks the
broker before it proxies (`open`): the row is burnt once and the access checked as for /tunnel, so
a token whose access ended is refused. The connection is logged; websockify asks about it again
every second (`status`) and ends it when the broker answers why its access ended; it says when it
closed (`end`). Those two calls carry a key only the broker and that websockify process know.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from sqlalchemy.orm import Session

from broker.classroom.state import is_locked, refuse_if_locked
from broker.db import utcnow
from broker.models import Connection, Desktop, User
from broker.tunnels import service
from broker.tunnels.vnc_token import WEBSOCKIFY_AUDIENCE, TokenError, verify


def connection_key(key: bytes, connection_id: str) -> str:
    return hmac.new(key, f"novnc-connection:{connection_id}".encode(), hashlib.sha256).hexdigest()


def key_matches(key: bytes, connection_id: str, presented: str) -> bool:
    return hmac.compare_digest(connection_key(key, connection_id).encode(), presented.encode())


def open_connection(db: Session, key: bytes, token: str) -> tuple[Connection, str]:
    """Redeem a websockify token: (the logged connection, its key), or ConnectRefused saying why not."""
    try:
        target = verify(key, token, WEBSOCKIFY_AUDIENCE)
    except TokenError:
        raise service.TokenInvalid("The connection link is invalid or expired.") from None
    grant = service.redeem_token(db, target.jti)
    db.commit()  # burned, whatever the checks below find
    # noVNC's input goes straight to the desktop's VNC server, past the broker: a locked person gets none.
    refuse_if_locked(db, db.get(User, grant.user_id))
    desktop = db.get(Desktop, grant.desktop_id)
    if (desktop.address, desktop.desktop_type.vnc_port) != (target.host, target.port):
        raise service.AccessEnded("desktop_stopped")
    record = Connection(
        id=str(uuid.uuid4()),
        user_id=grant.user_id,
        desktop_id=grant.desktop_id,
        mode="control",
        protocol="novnc",
        session_id=grant.session_id,
    )
    db.add(record)
    db.commit()
    return record, connection_key(key, record.id)


def end_connection(db: Session, connection_id: str, reason: str) -> bool:
    record = db.get(Connection, connection_id)
    if record is None or record.protocol != "novnc" or record.ended_at is not None:
        return False
    record.ended_at, record.end_reason = utcnow(), reason[:255]
    db.commit()
    return True


def owner_locked(db: Session, connection_id: str) -> bool:
    """Whether a teacher has locked the screens of the person whose noVNC connection this is: it then
    ends (websockify relays input the broker cannot drop) and a new one is refused until unlocked."""
    record = db.get(Connection, connection_id)
    return record is not None and record.user_id is not None and is_locked(db, record.user_id)
