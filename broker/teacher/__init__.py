"""Teacher tools: assigning desktop types (with folders) to groups and people, and the classroom view."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from broker import context
from broker.config import Settings
from broker.files.service import Space
from broker.models import User
from broker.teacher.folders import assignment_space
from broker.teacher.thumbnails import Thumbnails

EXTENSION = "deskbroker.teacher"


def init_app(app: Flask, settings: Settings, sessions: sessionmaker[Session]) -> None:
    app.extensions[EXTENSION] = Thumbnails(settings.core.secret_key, sessions)


def folder_spaces(settings: Settings) -> Callable[[User, str], Space | None]:
    """Assignment folders as spaces of the file manager, found by name for this request's person."""
    return lambda user, name: assignment_space(context.db(), settings, user, name)


def thumbnails() -> Thumbnails:
    return current_app.extensions[EXTENSION]
