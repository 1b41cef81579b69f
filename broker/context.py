"""What a request handler needs: the settings and a database session for this request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from broker.config import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    oauth: Any = None  # authlib OAuth registry, None when single sign-on is off
    # Which node runs the container at an address on the desktop network (Containers.node_of).
    node_of: Callable[[str], str | None] = lambda _address: None


def services() -> Services:
    return current_app.extensions["deskbroker"]


def settings() -> Settings:
    return services().settings


def db() -> Session:
    """One database session per request, closed when the request ends."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
