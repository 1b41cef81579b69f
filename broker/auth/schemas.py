"""The JSON shapes of people and sign-ins."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import Length, OneOf

from broker.models import LANGUAGES, ROLES, AuthSession
from broker.schemas import Base, Time, derived


class GroupSchema(Base):
    key = fields.String()
    name = fields.String()


class UserSchema(Base):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String()
    auth_source = fields.String(validate=OneOf(["oidc", "local"]))
    roles = fields.List(fields.String(validate=OneOf(ROLES)), attribute="role_names")
    groups = derived(fields.List(fields.Nested(GroupSchema)), lambda user: sorted(user.groups, key=lambda g: g.key))
    language = fields.String(
        allow_none=True,
        validate=OneOf(LANGUAGES),
        metadata={
            "description": "picked with the language toggle; null: never picked (desktops then speak their image's "
            "language, German)"
        },
    )


class SessionSchema(Base):
    authenticated = derived(fields.Boolean(required=True), lambda record: True)
    user = fields.Nested(UserSchema, required=True)
    expires_at = Time(required=True)
    csrf_token = fields.String(required=True)


class NewSessionSchema(SessionSchema):
    session_token = fields.String(required=True)


class LanguageSchema(Base):
    language = fields.String(required=True, validate=OneOf(LANGUAGES))


class LocalLoginSchema(Base):
    username = fields.String(required=True, validate=Length(min=1, max=64))
    password = fields.String(required=True, validate=Length(min=1, max=1024))


_SESSION = SessionSchema()


def session_json(record: AuthSession) -> dict:
    return _SESSION.dump(record)
