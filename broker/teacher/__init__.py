"""Teacher tools: assigning desktop types (with folders) to groups and people, and the classroom view."""

from __future__ import annotations

from flask import Flask, current_app

from broker import context, files
from broker.config import Settings
from broker.teacher.folders import assignment_space
from broker.teacher.thumbnails import Thumbnails

EXTENSION = "deskbroker.teacher"


def init_app(app: Flask, settings: Settings) -> None:
    """After files.init_app: assignment folders become spaces of the file manager."""
    app.extensions[EXTENSION] = Thumbnails(settings.core.secret_key)
    app.extensions[files.EXTENSION].more_spaces.append(
        lambda user, name: assignment_space(context.db(), settings, user, name))


def thumbnails() -> Thumbnails:
    return current_app.extensions[EXTENSION]
