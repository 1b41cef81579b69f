"""The audit log: who did what to which target."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from broker.models import AuditEvent, User


def record(
    db: Session, action: str, actor: User | None = None, target: str = "", ip: str = "", **details: Any
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "",
        target=target,
        ip=ip,
        details=details,
    )
    db.add(event)
    return event
