"""The JSON shapes of connecting: a viewer's permission, and websockify's questions about noVNC connections."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf

from broker.schemas import Base

PROTOCOLS = ("guacamole", "novnc")
MODES = ("control", "view", "help", "demo")


class ConnectRequestSchema(Base):
    protocol = fields.String(validate=OneOf(PROTOCOLS), load_default="guacamole")
    mode = fields.String(validate=OneOf(MODES), load_default="control")


class ConnectAnswerSchema(Base):
    protocol = fields.String(required=True, validate=OneOf(PROTOCOLS))
    tunnel_url = fields.String()
    sound = fields.Boolean(metadata={"description": "guacamole: the tunnel carries the desktop's sound"})
    token = fields.String()
    websockify_url = fields.String()
    password = fields.String()
    expires_in = fields.Integer(required=True)


class NovncTokenSchema(Base):
    token = fields.String(required=True)


class NovncGrantSchema(Base):
    connection_id = fields.String(required=True)
    key = fields.String(required=True)
    check_every = fields.Float(required=True)


class NovncLiveSchema(Base):
    live = fields.Boolean()
