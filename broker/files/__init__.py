"""The file manager's server side: each person's home and the public space, on Docker volumes."""

from __future__ import annotations

from flask import Flask, current_app

from broker.config import Settings
from broker.desktops.provider import Provider
from broker.files.service import FileService

EXTENSION = "deskbroker.files"


def init_app(app: Flask, settings: Settings, provider: Provider) -> None:
    app.extensions[EXTENSION] = FileService(settings, provider)


def files() -> FileService:
    return current_app.extensions[EXTENSION]
