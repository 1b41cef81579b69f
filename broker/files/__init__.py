"""The file manager's server side: each person's home and the public space, on Docker volumes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, current_app

from broker.config import Settings
from broker.desktops.provider import Volumes
from broker.files.service import FileService, Space
from broker.models import User

EXTENSION = "deskbroker.files"


def init_app(
    app: Flask, settings: Settings, volumes: Volumes, more_spaces: Iterable[Callable[[User, str], Space | None]] = ()
) -> None:
    """`more_spaces`: other packages' spaces (teacher.folder_spaces), each a finder by name."""
    app.extensions[EXTENSION] = FileService(settings.files, settings.desktops, volumes, more_spaces)


def files() -> FileService:
    return current_app.extensions[EXTENSION]
