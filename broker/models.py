"""The broker's data. Change it only together with a migration (`broker/migrations/versions`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.db import Base, utcnow

ROLE_ADMIN = "admin"
ROLE_TEACHER = "teacher"
ROLES = (ROLE_ADMIN, ROLE_TEACHER)
LANGUAGES = ("de", "en")  # what the broker's pages and its desktops speak

user_groups = Table(
    "user_groups",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)

user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable identity: "oidc:<uuid or sub>" or "local:<username>". Usernames may change at the provider.
    subject: Mapped[str] = mapped_column(String(255), unique=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    auth_source: Mapped[str] = mapped_column(String(16))  # "oidc" | "local"
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The language picked with the broker's toggle (LANGUAGES); None: never picked. Desktops speak it.
    language: Mapped[str | None] = mapped_column(String(8))

    groups: Mapped[list[Group]] = relationship(secondary=user_groups, back_populates="members")
    roles: Mapped[list[Role]] = relationship(secondary=user_roles)

    @property
    def role_names(self) -> list[str]:
        return sorted(role.name for role in self.roles)

    def has_role(self, name: str) -> bool:
        return any(role.name == name for role in self.roles)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # IServ's "act", or the plain group name
    name: Mapped[str] = mapped_column(String(255), default="")
    members: Mapped[list[User]] = relationship(secondary=user_groups, back_populates="groups")


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)


class AuthSession(Base):
    """A server-side sign-in. Only the SHA-256 of the token is stored."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")

    # Every request's sign-in check reads both: one query, not two round trips to the database.
    user: Mapped[User] = relationship(lazy="joined")


class LoginThrottle(Base):
    """Failed local sign-ins per key: "pair:ADDRESS|NAME", "user:NAME" or "ip:ADDRESS" (broker/auth/throttle.py)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class DesktopType(Base):
    """A catalog entry: what people may start (from image labels or made by an admin)."""

    __tablename__ = "desktop_types"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    image: Mapped[str] = mapped_column(String(255))
    title_en: Mapped[str] = mapped_column(String(255))
    title_de: Mapped[str] = mapped_column(String(255))
    description_en: Mapped[str] = mapped_column(Text, default="")
    description_de: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str] = mapped_column(Text, default="")
    vnc_port: Mapped[int] = mapped_column(Integer, default=5901)
    memory_mb: Mapped[int] = mapped_column(Integer, default=1024)
    cpus: Mapped[float] = mapped_column(default=1.0)
    pids_limit: Mapped[int] = mapped_column(Integer, default=1024)  # threads count too: browsers need hundreds
    shm_size_mb: Mapped[int | None] = mapped_column(Integer)
    max_running: Mapped[int | None] = mapped_column(Integer)  # None: no limit for this type
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # What its desktops reach beyond their own screen: none, internet or proxy (set by admins only;
    # an image cannot ask for it). broker/desktops/isolation.py
    egress: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # Whether guacd records the owners' sessions (set by admins only; people are told before the
    # start and while connected). broker/recordings
    record_sessions: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Whether its owners hear their desktop (guacd records the desktop's sound server): on unless
    # an admin turns it off. Applies from the next connection.
    sound: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    source: Mapped[str] = mapped_column(String(16), default="admin")  # "image" | "admin"
    # Fields of an image's type an admin changed: the image's labels no longer overwrite them.
    admin_fields: Mapped[list] = mapped_column(JSON, default=list)


class DesktopTypeAssignment(Base):
    """Who may start a desktop type: a group or one person. A type without any is open to everyone."""

    __tablename__ = "desktop_type_assignments"
    __table_args__ = (
        UniqueConstraint("desktop_type_id", "group_id"),
        UniqueConstraint("desktop_type_id", "user_id"),
        CheckConstraint("(group_id IS NULL) <> (user_id IS NULL)", name="group_or_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    desktop_type_id: Mapped[str] = mapped_column(ForeignKey("desktop_types.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # A folder of this name appears in the homes of the desktops it grants (teachers' material),
    # read-only; its files live in the Docker volume `volume`, which the teacher fills.
    folder: Mapped[str | None] = mapped_column(String(64))
    volume: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    desktop_type: Mapped[DesktopType] = relationship()
    group: Mapped[Group | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class Desktop(Base):
    """One person's desktop container of one type (no owner yet: pre-started in the pool)."""

    __tablename__ = "desktops"
    # One desktop per person and type, also when two broker processes start it at once.
    __table_args__ = (UniqueConstraint("user_id", "desktop_type_id", name="uq_desktops_user_id_desktop_type_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    desktop_type_id: Mapped[str] = mapped_column(ForeignKey("desktop_types.id"))
    state: Mapped[str] = mapped_column(String(16), default="creating")
    state_reason: Mapped[str] = mapped_column(Text, default="")
    state_changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    container_id: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(255))  # on the desktop network, while running
    # The per-desktop VNC password, encrypted with a key derived from SECRET_KEY.
    vnc_password_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The assignment folders its container mounts, [[folder, volume], ...]: a start with other
    # folders due makes a new container (mounts are fixed when a container is made).
    folders: Mapped[list] = mapped_column(JSON, default=list)
    # The egress its container was made with: a start under another makes a new container.
    egress: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # The language its container was made with (None: none given, the image's own): likewise.
    language: Mapped[str | None] = mapped_column(String(8))
    # Until when a teacher or admin counts as watching it (view-only tunnel, classroom thumbnails).
    watched_until: Mapped[datetime | None] = mapped_column(DateTime)
    # When a lesson's end stops it (its owner sees a countdown until then); None: no stop is due.
    stops_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)

    user: Mapped[User | None] = relationship()
    # Nearly every use of a desktop reads its type too (port, sound, recording): loaded with it.
    desktop_type: Mapped[DesktopType] = relationship(lazy="joined", innerjoin=True)

    @property
    def watched(self) -> bool:
        return self.watched_until is not None and self.watched_until > utcnow()


class Demo(Base):
    """A teacher showing one desktop to a group: the students' viewers and dashboards show it instead of
    their own desktops while the row exists (broker.tunnels.sharing)."""

    __tablename__ = "demos"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), unique=True)
    desktop_id: Mapped[str] = mapped_column(ForeignKey("desktops.id", ondelete="CASCADE"), index=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    group: Mapped[Group] = relationship()
    desktop: Mapped[Desktop] = relationship()
    started_by: Mapped[User | None] = relationship()


class AuditEvent(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(255), default="")  # username at the time, kept after deletion
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class Lease(Base):
    """Work one broker process does for all at a time (housekeeping): whoever holds the lease, until
    it expires unrenewed (its process died) and another takes it over (broker/leases.py)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class TunnelToken(Base):
    """A single-use permission to open one tunnel; only the SHA-256 of the token is stored."""

    __tablename__ = "tunnel_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    desktop_id: Mapped[str] = mapped_column(ForeignKey("desktops.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))  # "control" | "view"
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The sign-in that asked for it: the token dies with it (sign-out, revocation, a disabled account).
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime)  # a desktop started since refuses it


class Connection(Base):
    """One viewer's connection to a desktop, for the admin's live and history views."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    desktop_id: Mapped[str | None] = mapped_column(ForeignKey("desktops.id", ondelete="SET NULL"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    protocol: Mapped[str] = mapped_column(String(16))
    guacd_connection_id: Mapped[str] = mapped_column(String(64), default="")
    # The guacd instance (host:port) that holds it: watchers join there (broker.tunnels.guacd_pool).
    guacd_instance: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    bytes_to_client: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_from_client: Mapped[int] = mapped_column(BigInteger, default=0)
    end_reason: Mapped[str] = mapped_column(String(255), default="")
    # Set by an admin's kill or another act that ends access; the broker process running the tunnel
    # sees it and ends it. `kill_reason` says which act (broker.tunnels.ending.REASONS).
    kill_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    kill_reason: Mapped[str] = mapped_column(String(32), default="")
    # The sign-in the tunnel was opened under: it ends with it. No foreign key: the log outlives sessions.
    session_id: Mapped[str | None] = mapped_column(String(64))
    # When the broker process running the tunnel last vouched that it runs (a crashed one no longer does).
    seen_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User | None] = relationship()
    desktop: Mapped[Desktop | None] = relationship()


class Recording(Base):
    """A session guacd recorded (the owner's control tunnel of a desktop whose type records), in the
    recordings directory under `file_name`, which the broker chose: never a name from a request."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL"), unique=True, index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    username: Mapped[str] = mapped_column(String(255), default="")  # at the time, kept after deletion
    # No foreign keys: a recording outlives its desktop and even its type, until retention ends it.
    desktop_type_id: Mapped[str] = mapped_column(String(64), index=True)
    desktop_id: Mapped[str] = mapped_column(String(36), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_name: Mapped[str] = mapped_column(String(64), unique=True)

    user: Mapped[User | None] = relationship()


class Branding(Base):
    """How the installation presents itself; one row (id 1), edited by admins. Empty: the defaults."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_name: Mapped[str] = mapped_column(String(80), default="")
    logo: Mapped[str] = mapped_column(Text, default="")  # a data: URL (PNG, JPEG, SVG, WebP)
    favicon: Mapped[str] = mapped_column(Text, default="")  # a data: URL
    primary_colour: Mapped[str] = mapped_column(String(7), default="")  # #rrggbb
    accent_colour: Mapped[str] = mapped_column(String(7), default="")  # #rrggbb
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# --- the classroom (broker.classroom): a person's locked screens, messages and raised hand


class ScreenLock(Base):
    """A person's screens locked by a teacher: their viewers show `text`, the broker drops their input."""

    __tablename__ = "screen_locks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    text: Mapped[str] = mapped_column(String(200), default="")
    locked_by: Mapped[str] = mapped_column(String(255), default="")  # the teacher's name at the time
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ClassroomMessage(Base):
    """A teacher's short message to one person (a message to a group is one row per member)."""

    __tablename__ = "classroom_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(500), default="")
    sent_by: Mapped[str] = mapped_column(String(255), default="")
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime)


class RaisedHand(Base):
    """A student asks for help, until a teacher helps or they withdraw."""

    __tablename__ = "raised_hands"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DesktopPicture(Base):
    """The wall's latest picture of a desktop, shared by every broker process: one grab per desktop
    per interval, whoever asks. `grabbing_until` is the lease of the process grabbing it now."""

    __tablename__ = "desktop_pictures"

    desktop_id: Mapped[str] = mapped_column(ForeignKey("desktops.id", ondelete="CASCADE"), primary_key=True)
    png: Mapped[bytes | None] = mapped_column(LargeBinary)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    grabbing_until: Mapped[datetime | None] = mapped_column(DateTime)


class Lesson(Base):
    """A lesson a teacher runs for a group on one desktop type: its students' desktops are started
    ahead, and stopped once it ends (`ends_at`, after a warning to its students)."""

    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    desktop_type_id: Mapped[str] = mapped_column(ForeignKey("desktop_types.id", ondelete="CASCADE"))
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when a teacher ends it: its desktops stop then (desktops.stops_at), and it is over.
    ends_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)

    group: Mapped[Group] = relationship()
    desktop_type: Mapped[DesktopType] = relationship()
    started_by: Mapped[User | None] = relationship()
    starts: Mapped[list[LessonStart]] = relationship(back_populates="lesson", cascade="all, delete-orphan")


class LessonStart(Base):
    """How starting one student's desktop ahead of a lesson went: starting, running or failed (why)."""

    __tablename__ = "lesson_starts"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="starting")
    problem: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    lesson: Mapped[Lesson] = relationship(back_populates="starts")
    user: Mapped[User] = relationship()
