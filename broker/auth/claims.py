"""Turn an OpenID provider's claims into a person, for IServ and for generic providers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from broker.errors import Invalid
from broker.models import ROLE_ADMIN, ROLE_TEACHER


class ClaimsError(Invalid):
    """The provider sent claims we cannot build a person from; `detail` says what is wrong with them."""

    code = "bad_claims"

    def __init__(self, detail: str):
        super().__init__(f"The sign-in service sent unusable data: {detail}.", params={"detail": detail})


@dataclass(frozen=True)
class GroupClaim:
    key: str  # what role mapping matches on: IServ's "act", or the plain name
    name: str  # what people see


@dataclass(frozen=True)
class Identity:
    subject: str
    username: str
    display_name: str = ""
    email: str = ""
    groups: tuple[GroupClaim, ...] = field(default_factory=tuple)


def _string(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_groups(value: Any) -> tuple[GroupClaim, ...]:
    """Groups as a list of names, or IServ's object {id: {"act": ..., "name": ...}}."""
    items: Iterable[Any]
    if value is None:
        return ()
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list):
        items = value
    else:
        raise ClaimsError("the groups claim is neither a list nor an object")
    groups: dict[str, GroupClaim] = {}
    for item in items:
        if isinstance(item, str) and item.strip():
            groups[item.strip()] = GroupClaim(item.strip(), item.strip())
        elif isinstance(item, dict) and _string(item.get("act")):
            key = _string(item["act"])
            groups[key] = GroupClaim(key, _string(item.get("name")) or key)
        else:
            raise ClaimsError("a group in the groups claim has no name")
    return tuple(groups[key] for key in sorted(groups))


def identity_from_claims(claims: dict[str, Any], groups_claim: str = "groups") -> Identity:
    # IServ's `uuid` is stable across renames; `sub` is the standard fallback.
    subject = _string(claims.get("uuid")) or _string(claims.get("sub"))
    if not subject:
        raise ClaimsError("the provider sent neither a uuid nor a sub claim")
    username = _string(claims.get("preferred_username")) or subject
    return Identity(
        subject=subject,
        username=username,
        display_name=_string(claims.get("name")) or username,
        email=_string(claims.get("email")),
        groups=parse_groups(claims.get(groups_claim)),
    )


def roles_for_groups(
    groups: Iterable[GroupClaim], admin_groups: Iterable[str], teacher_groups: Iterable[str]
) -> list[str]:
    keys = {group.key.casefold() for group in groups}
    roles = []
    if keys & {name.casefold() for name in admin_groups}:
        roles.append(ROLE_ADMIN)
    if keys & {name.casefold() for name in teacher_groups}:
        roles.append(ROLE_TEACHER)
    return roles
