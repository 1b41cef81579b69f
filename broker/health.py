"""/healthz: the process answers. /readyz: it can do its work (the database answers)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from broker import context
from broker.db import ping
from broker.openapi import documented
from broker.schemas import StatusSchema

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@documented("The process answers", public=True, responses={200: ("Up", StatusSchema)})
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@documented(
    "The broker can serve requests (database reachable)",
    public=True,
    responses={200: ("Ready", StatusSchema), 503: ("Not ready", StatusSchema)},
)
def readyz():
    try:
        ping(context.services().engine)
    except SQLAlchemyError as exc:
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return jsonify(status="unavailable", reason="database unreachable"), 503
    return jsonify(status="ok")
