"""The file manager's server side: each person's home and the public space, on Docker volumes."""

from __future__ import annotations

from flask import Flask, current_app

from broker.config import Settings
from broker.desktops.provider import Volumes
from broker.files.service import FileService

EXTENSION = "deskbroker.files"


def init_app(app: Flask, settings: Settings, volumes: Volumes) -> None:
    app.extensions[EXTENSION] = FileService(settings.files, settings.desktops, volumes)


def files() -> FileService:
    return current_app.extensions[EXTENSION]
