"""People: kept in step with the provider at every sign-in, or managed locally by an admin."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from broker.auth.claims import GroupClaim, Identity
from broker.db import utcnow
from broker.models import LANGUAGES, ROLES, AuthSession, Group, Role, User
from broker.offload import off_loop
from broker.signals import roles_changed

USERNAME = re.compile(r"^[\w.@-]{1,64}$")
MIN_PASSWORD = 10


class UserError(ValueError):
    """A request about a user that cannot be carried out; the message says why."""


def _roles(db: Session, names: list[str]) -> list[Role]:
    unknown = set(names) - set(ROLES)
    if unknown:
        raise UserError(f"unknown role(s): {', '.join(sorted(unknown))}")
    found = {role.name: role for role in db.scalars(select(Role).where(Role.name.in_(names)))}
    for name in names:
        if name not in found:
            found[name] = Role(name=name)
            db.add(found[name])
    return [found[name] for name in sorted(names)]


def _groups(db: Session, claims: tuple[GroupClaim, ...]) -> list[Group]:
    keys = [claim.key for claim in claims]
    found = {group.key: group for group in db.scalars(select(Group).where(Group.key.in_(keys)))}
    groups = []
    for claim in claims:
        group = found.get(claim.key) or Group(key=claim.key)
        group.name = claim.name
        db.add(group)
        groups.append(group)
    return groups


def _free_username(db: Session, wanted: str, user_id: int | None) -> str:
    """The provider's username, or `name-2`, `name-3`… when another account already has it."""
    candidate, n = wanted, 1
    while True:
        owner = db.scalar(select(User.id).where(User.username == candidate))
        if owner is None or owner == user_id:
            return candidate
        n += 1
        candidate = f"{wanted}-{n}"


def upsert_from_identity(db: Session, identity: Identity, roles: list[str]) -> User:
    """Create or update the person behind an OIDC sign-in; groups and roles follow the claims."""
    subject = f"oidc:{identity.subject}"
    user = db.scalar(select(User).where(User.subject == subject))
    if user is not None and user.disabled:
        raise UserError("this account has been disabled by an administrator")
    username = _free_username(db, identity.username, user.id if user else None)
    if user is None:
        user = User(subject=subject, auth_source="oidc")
        db.add(user)
    user.username = username
    user.display_name = identity.display_name
    user.email = identity.email
    user.groups = _groups(db, identity.groups)
    user.roles = _roles(db, roles)
    user.last_login_at = utcnow()
    db.flush()
    roles_changed.send(user, db=db)  # a role or group lost at the provider ends its watches
    return user


def find_local_user(db: Session, username: str) -> User | None:
    return db.scalar(select(User).where(User.subject == f"local:{username}"))


def _checked_password(password: str | None) -> tuple[str, bool]:
    """(password, generated?) — a strong random one when none is given."""
    if password is None:
        return secrets.token_urlsafe(12), True
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    return password, False


def create_local_user(
    db: Session, username: str, password: str | None = None, roles: list[str] | None = None, display_name: str = ""
) -> tuple[User, str | None]:
    """Returns the user and the generated password (None when one was given)."""
    if not USERNAME.match(username):
        raise UserError("a username is 1-64 letters, digits, '.', '_', '@' or '-'")
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"the username {username!r} is taken")
    password, generated = _checked_password(password)
    user = User(
        subject=f"local:{username}",
        username=username,
        auth_source="local",
        display_name=display_name or username,
        password_hash=generate_password_hash(password),
        roles=_roles(db, roles or []),
    )
    db.add(user)
    db.flush()
    return user, password if generated else None


def _local(db: Session, username: str) -> User:
    user = find_local_user(db, username)
    if user is None:
        raise UserError(f"no local account named {username!r}")
    return user


def reset_password(db: Session, username: str, password: str | None = None) -> str | None:
    user = _local(db, username)
    password, generated = _checked_password(password)
    user.password_hash = generate_password_hash(password)
    revoke_all_sessions(db, user)
    return password if generated else None


def set_disabled(db: Session, username: str, disabled: bool) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user named {username!r}")
    user.disabled = disabled
    if disabled:
        revoke_all_sessions(db, user)
    return user


def set_roles(db: Session, username: str, roles: list[str]) -> User:
    user = _local(db, username)
    user.roles = _roles(db, roles)
    roles_changed.send(user, db=db)
    return user


def set_language(user: User, language: object) -> None:
    """The person's own pick: the broker's pages and the desktops they start next speak it."""
    if language not in LANGUAGES:
        raise UserError(f"language is one of: {', '.join(LANGUAGES)}")
    user.language = language


def verify_local_password(user: User | None, password: str) -> bool:
    # scrypt costs about a tenth of a second of CPU: beside the event loop (hashlib lets go of the
    # GIL meanwhile), so a class signing in at once neither stalls the worker nor idles the second core.
    if user is None or not user.password_hash:
        # Same work for unknown names, so timing does not tell which accounts exist.
        off_loop(check_password_hash, _DUMMY_HASH, password)
        return False
    return off_loop(check_password_hash, user.password_hash, password)


def revoke_all_sessions(db: Session, user: User) -> None:
    now = utcnow()
    for record in db.scalars(
        select(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    ):
        record.revoked_at = now


_DUMMY_HASH = generate_password_hash("not-a-real-password")
