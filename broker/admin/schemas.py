"""The JSON shapes of the admins' API: figures, connections, the audit log, people, the catalog."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf, Range, Regexp

from broker.auth.schemas import UserSchema
from broker.desktops.schemas import DesktopSchema, DesktopTypeSchema, egress_field
from broker.models import AuditEvent, Connection, Desktop, DesktopType, User
from broker.recordings.schemas import StorageSchema
from broker.schemas import Base, Time, derived, localized


class TypeFiguresSchema(Base):
    desktop_type = fields.String()
    total = fields.Integer()
    running = fields.Integer()
    live_connections = fields.Integer()


class AdminStatsSchema(Base):
    total = fields.Integer(metadata={"description": "desktops in any state, pool ones too"})
    running = fields.Integer()
    active_users = fields.Integer(metadata={"description": "people with a desktop starting or running"})
    live_connections = fields.Integer()
    states = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "desktops per state (states without any left out)"},
    )
    per_type = fields.List(fields.Nested(TypeFiguresSchema))
    recordings = fields.Nested(StorageSchema, metadata={"description": "the session recordings' storage"})


class ConnectionSchema(Base):
    id = fields.String()
    user = derived(fields.String(allow_none=True), lambda record: record.user.username if record.user else None)
    user_id = fields.Integer(allow_none=True)
    desktop_id = fields.String(allow_none=True)
    desktop_type = derived(
        fields.String(allow_none=True), lambda record: record.desktop.desktop_type_id if record.desktop else None
    )
    mode = fields.String(validate=OneOf(["control", "view"]))
    protocol = fields.String()
    live = derived(fields.Boolean(), lambda record: record.ended_at is None)
    started_at = Time(allow_none=True)
    ended_at = Time(allow_none=True)
    kill_requested_at = Time(allow_none=True)
    bytes_to_client = fields.Integer()
    bytes_from_client = fields.Integer()
    end_reason = fields.String()


class AuditEventSchema(Base):
    id = fields.Integer()
    at = Time()
    actor = fields.String()
    actor_id = fields.Integer(allow_none=True)
    action = fields.String()
    target = fields.String()
    ip = fields.String()
    details = derived(fields.Dict(), lambda event: event.details or {})


class UserDesktopSchema(Base):
    id = fields.String()
    desktop_type = fields.String(attribute="desktop_type_id")
    state = fields.String()
    last_activity_at = Time(allow_none=True)


class AdminUserSchema(UserSchema):
    disabled = fields.Boolean()
    created_at = Time()
    last_login_at = Time(allow_none=True)
    desktops = fields.List(fields.Nested(UserDesktopSchema))


def _listing(name: str, item: type[Base]) -> type[Base]:
    """A page of `name`: its items, how many match over all pages, and the page's limit and offset."""
    return type(
        f"{item.__name__[: -len('Schema')]}ListSchema",
        (Base,),
        {
            name: fields.List(fields.Nested(item), required=True),
            "total": fields.Integer(required=True, metadata={"description": "how many match, over all pages"}),
            "limit": fields.Integer(required=True),
            "offset": fields.Integer(required=True),
        },
    )


ConnectionListSchema = _listing("connections", ConnectionSchema)
AuditListSchema = _listing("events", AuditEventSchema)
AdminUserListSchema = _listing("users", AdminUserSchema)


class AdminDesktopListSchema(Base):
    desktops = fields.List(fields.Nested(DesktopSchema))


class StopAllSchema(Base):
    stopped = fields.Integer()
    problems = fields.List(fields.String())


class AdminDesktopTypeSchema(DesktopTypeSchema):
    """A desktop type as admins see it: what the public one shows and how it runs."""

    source = fields.String(validate=OneOf(["image", "admin"]))
    enabled = fields.Boolean()
    image = fields.String()
    icon = fields.String(metadata={"description": "a data: URL, or an icon name from the image"})
    vnc_port = fields.Integer()
    memory_mb = fields.Integer()
    cpus = fields.Float()
    pids_limit = fields.Integer()
    shm_size_mb = fields.Integer(allow_none=True)
    max_running = fields.Integer(allow_none=True)
    record_sessions = fields.Boolean(metadata={"description": "guacd records its owners' sessions"})
    sound = fields.Boolean(metadata={"description": "its owners hear their desktop in the viewer"})
    admin_fields = derived(
        fields.List(
            fields.String(), metadata={"description": "fields an admin changed; the image's labels no longer set them"}
        ),
        lambda kind: list(kind.admin_fields or []),
    )
    desktops = fields.Integer(metadata={"description": "how many desktops of this type there are"})


class AdminDesktopTypeListSchema(Base):
    desktop_types = fields.List(fields.Nested(AdminDesktopTypeSchema))


class DeletedDesktopTypeSchema(Base):
    deleted = fields.String()


class DesktopTypeChangeSchema(Base):
    class Meta(Base.Meta):
        description = "Other fields are refused (400)."

    title = localized("title")
    description = localized("description")
    enabled = fields.Boolean()
    image = fields.String(metadata={"description": "only for types an admin made"})
    vnc_port = fields.Integer(validate=Range(1, 65535), metadata={"description": "only for types an admin made"})
    memory_mb = fields.Integer(validate=Range(64, 262144))
    cpus = fields.Float(validate=Range(0.1, 256))
    pids_limit = fields.Integer(validate=Range(64, 65536))
    shm_size_mb = fields.Integer(allow_none=True, validate=Range(1, 65536))
    max_running = fields.Integer(
        allow_none=True, validate=Range(1, 100000), metadata={"description": "null: no limit for this type"}
    )
    egress = egress_field(
        "what its desktops reach: nothing, public addresses, or only the proxy "
        "(DESKBROKER_EGRESS_PROXY); applies from each desktop's next start"
    )
    record_sessions = fields.Boolean(
        metadata={
            "description": "record its owners' sessions (people are told before the start and while "
            "connected); applies from the next connection"
        }
    )
    sound = fields.Boolean(
        metadata={"description": "its owners hear their desktop (default true); applies from the next connection"}
    )


class NewDesktopTypeSchema(DesktopTypeChangeSchema):
    id = fields.String(required=True, validate=Regexp(r"^[a-z0-9][a-z0-9-]{0,62}$"))
    image = fields.String(required=True, metadata={"description": "only for types an admin made"})
    title = localized("title", required=True)


_STATS = AdminStatsSchema()
_CONNECTION = ConnectionSchema()
_AUDIT_EVENT = AuditEventSchema()
_USER = AdminUserSchema(exclude=["desktops"])
_USER_DESKTOP = UserDesktopSchema()
_DESKTOP_TYPE = AdminDesktopTypeSchema(exclude=["desktops"])


def stats_json(figures: object) -> dict:
    return _STATS.dump(figures)


def connection_json(record: Connection) -> dict:
    return _CONNECTION.dump(record)


def audit_json(event: AuditEvent) -> dict:
    return _AUDIT_EVENT.dump(event)


def user_json(user: User, desktops: list[Desktop]) -> dict:
    return _USER.dump(user) | {"desktops": _USER_DESKTOP.dump(desktops, many=True)}


def admin_desktop_type_json(kind: DesktopType, desktops: int) -> dict:
    return _DESKTOP_TYPE.dump(kind) | {"desktops": desktops}
