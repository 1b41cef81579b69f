"""Secrets the broker stores and must read back (desktop VNC passwords): only it holds the key.

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from DESKBROKER_SECRET_KEY by HKDF, so
a copy of the database alone reveals nothing, and the derived key serves no other purpose.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"deskbroker stored secrets v1"

__all__ = ["InvalidToken", "decrypt", "encrypt"]


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode("ascii")


def decrypt(secret_key: str, token: str) -> str:
    """The plaintext; InvalidToken when the token was altered or made with another key."""
    return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
