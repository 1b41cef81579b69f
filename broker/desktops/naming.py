"""Names of desktop containers, services and home volumes.

Valid for Docker and for Swarm (service names are DNS labels: at most 63 characters of letters,
digits and '-') whatever the username: dots, umlauts, other scripts, very long names. The
readable part is cut to fit; a hash of the stable identity keeps names apart that read alike
(`max.müller`, `max-mueller`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata

PART_MAX = 16  # instance, user and type parts: 3 x 16 + 12 (hash) + 3 (dashes) = 63
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def slug(text: str, max_length: int = PART_MAX) -> str:
    """Lowercase ASCII letters, digits and single dashes; may be empty (e.g. for Chinese names)."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_GERMAN)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:max_length].strip("-")


def digest(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def desktop_name(instance: str, username: str, subject: str, desktop_type: str) -> str:
    """`<instance>-<user>-<type>-<hash>`; one name per person and type, so two starts collide on it."""
    user, kind = slug(username) or "user", slug(desktop_type) or "desktop"
    return f"{instance}-{user}-{kind}-{digest(subject, desktop_type)}"


def pool_name(instance: str, desktop_type: str, desktop_id: str) -> str:
    return f"{instance}-pool-{slug(desktop_type) or 'desktop'}-{digest(desktop_id)}"


def home_volume_name(instance: str, subject: str) -> str:
    """From the stable subject alone: usernames change at the provider, a home must not move.

    The username is in the volume's labels for people looking for it.
    """
    return f"{instance}-home-{digest(subject, length=16)}"


def public_volume_name(instance: str) -> str:
    return f"{instance}-public"


def folder_volume_name(instance: str) -> str:
    """A new assignment folder's volume; random, so no later assignment ever finds an old one's files."""
    return f"{instance}-folder-{secrets.token_hex(6)}"
