"""Desktops: provisioning on Docker or Docker Swarm, their lifecycle, quotas and housekeeping."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from broker.config import Settings
from broker.desktops.docker import DockerProvider
from broker.desktops.provider import Provider
from broker.desktops.service import Lifecycle
from broker.desktops.swarm import SwarmProvider

EXTENSION = "deskbroker.desktops"


def make_provider(settings: Settings) -> Provider:
    desktops = settings.desktops
    return SwarmProvider(desktops) if desktops.desktop_provider == "swarm" else DockerProvider(desktops)


def init_app(app: Flask, settings: Settings, sessions: sessionmaker[Session]) -> Provider:
    """Cheap: the engine is first contacted when a desktop is started or housekeeping runs. Returns
    the provider, for the packages that use the engine too (files)."""
    provider = make_provider(settings)
    app.extensions[EXTENSION] = Lifecycle(settings, provider, sessions)
    return provider


def lifecycle() -> Lifecycle:
    return current_app.extensions[EXTENSION]
