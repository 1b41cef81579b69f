"""What the routes about desktops share, a person's (desktops/routes.py) and admins' (admin/desktops.py):
the audit record of an act on a desktop. Their JSON shapes are broker.desktops.schemas; their errors are
answered by broker.errors like every other domain error."""

from __future__ import annotations

from broker import audit, context
from broker.auth.current import client_ip
from broker.models import Desktop, User


def record(action: str, user: User, desktop: Desktop) -> None:
    """The audit log's line for an act on a desktop, committed."""
    db = context.db()
    audit.record(
        db,
        action,
        user,
        desktop.id,
        client_ip(),
        desktop_type=desktop.desktop_type_id,
        owner=desktop.user.username if desktop.user else None,
    )
    db.commit()
