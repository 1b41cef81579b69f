"""The plugin's settings, from the environment, checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from broker.origins import allowed_origins
from broker.tunnels.vnc_token import MIN_KEY_BYTES

DEFAULT_VNC_PORT = 5901
DEFAULT_USED_TOKENS_DIR = "/tmp/used-vnc-tokens"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names each variable."""


@dataclass(frozen=True)
class Settings:
    key: bytes  # the broker's token signing key
    vnc_port: int  # the only port a token may name
    used_tokens_dir: Path  # single-use markers, shared by websockify's forked handlers
    origins: frozenset[str] = frozenset()  # web origins whose pages may connect (the broker's public URL)
    # The broker, asked before proxying and every second while a connection runs (access.py);
    # empty: tokens are checked here alone, and access that ends does not end a connection.
    broker_url: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        problems: list[str] = []
        key = _key(environ, problems)
        port_text = environ.get("VNC_PORT", str(DEFAULT_VNC_PORT))
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            problems.append(f"VNC_PORT={port_text!r} is not a port number")
        origins = _origins(environ, problems)
        broker_url = environ.get("DESKBROKER_URL", "").strip().rstrip("/")
        if broker_url and not broker_url.startswith(("http://", "https://")):
            problems.append(f"DESKBROKER_URL={broker_url!r} is not an http(s) URL")
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(
            key=key,
            vnc_port=int(port_text),
            used_tokens_dir=Path(environ.get("VNC_TOKEN_USED_DIR", DEFAULT_USED_TOKENS_DIR)),
            origins=origins,
            broker_url=broker_url,
        )


def _origins(environ: Mapping[str, str], problems: list[str]) -> frozenset[str]:
    """ALLOWED_ORIGINS: the broker's public URL (and any further origins), space or comma separated."""
    items = environ.get("ALLOWED_ORIGINS", "").replace(",", " ").split()
    if not items:
        problems.append("ALLOWED_ORIGINS must name the broker's public URL (e.g. https://desk.school.example), "
                        "so that only its pages may connect")
        return frozenset()
    try:
        return allowed_origins(items[0], items[1:])
    except ValueError as error:
        problems.append(f"ALLOWED_ORIGINS: expected {error}")
        return frozenset()


def _key(environ: Mapping[str, str], problems: list[str]) -> bytes:
    """From VNC_TOKEN_KEY_FILE (a Docker secret) or VNC_TOKEN_KEY; outer whitespace ignored."""
    path, value = environ.get("VNC_TOKEN_KEY_FILE"), environ.get("VNC_TOKEN_KEY")
    if path and value:
        problems.append("set VNC_TOKEN_KEY_FILE or VNC_TOKEN_KEY, not both")
        return b""
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as error:
            problems.append(f"VNC_TOKEN_KEY_FILE: cannot read {path}: {error.strerror}")
            return b""
    elif value:
        key = value.strip().encode()
    else:
        problems.append("VNC_TOKEN_KEY_FILE or VNC_TOKEN_KEY must hold the broker's token key")
        return b""
    if len(key) < MIN_KEY_BYTES:
        problems.append(f"the token key must be at least {MIN_KEY_BYTES} bytes")
    return key
