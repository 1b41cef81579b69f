"""Short-lived, single-use tokens naming a desktop's VNC endpoint.

The broker signs one per noVNC connection; websockify's token plugin (guacd/websockify/)
verifies it and proxies to the endpoint it names. A token is a JWT (RFC 7519) signed with
HMAC-SHA256 (header always {"alg":"HS256","typ":"JWT"}) carrying the claims
`aud`, `host`, `port`, `jti` (random id, for single use), `iat` and `exp` (whole seconds).

Standard library only: the websockify image copies this file (with the package's
`__init__` files) and nothing else of the broker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

WEBSOCKIFY_AUDIENCE = "websockify"
DEFAULT_LIFETIME = 30
MAX_LIFETIME = 60  # seconds; verify refuses tokens meant to live longer, whatever they claim
CLOCK_SKEW = 5  # seconds the signer's clock may run ahead of the verifier's
MIN_KEY_BYTES = 32
MAX_TOKEN_LENGTH = 1024

_HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}")  # names and IP addresses, nothing else
_JTI = re.compile(r"[A-Za-z0-9_-]{16,64}")  # safe as a file name (single-use markers)
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


class TokenError(Exception):
    """A token was refused; subclasses name the reason. Messages never contain the token."""


class MalformedToken(TokenError):
    """Not a token of this format, or its claims are missing or of the wrong type."""


class BadSignature(TokenError):
    """Not signed with this key."""


class TokenExpired(TokenError):
    """Its `exp` has passed."""


class WrongAudience(TokenError):
    """Meant for another service."""


class LifetimeTooLong(TokenError):
    """Meant to live longer than the verifier allows."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    jti: str
    exp: int


def sign(
    key: bytes,
    host: str,
    port: int,
    ttl: int = DEFAULT_LIFETIME,
    audience: str = WEBSOCKIFY_AUDIENCE,
    *,
    now: float | None = None,
    jti: str | None = None,
) -> str:
    """A token for `host:port`, valid for `ttl` seconds from `now` (default: the clock); `jti`
    (default: random) lets the signer keep a record of it."""
    _check_key(key)
    if not _HOST.fullmatch(host):
        raise ValueError(f"not a host name or address: {host!r}")
    if not _is_int(port) or not 1 <= port <= 65535:
        raise ValueError(f"not a port: {port!r}")
    if not _is_int(ttl) or ttl < 1:
        raise ValueError(f"lifetime must be a whole number of seconds >= 1, not {ttl!r}")
    if jti is not None and not _JTI.fullmatch(jti):
        raise ValueError("a token id is 16-64 URL-safe characters")
    issued = int(time.time() if now is None else now)
    claims = {
        "aud": audience,
        "host": host,
        "port": port,
        "jti": jti or secrets.token_urlsafe(16),
        "iat": issued,
        "exp": issued + ttl,
    }
    payload = _encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_HEADER}.{payload}"
    return f"{signing_input}.{_signature(key, signing_input)}"


def verify(
    key: bytes,
    token: str,
    audience: str,
    max_ttl: int = MAX_LIFETIME,
    now: float | None = None,
) -> Target:
    """The target a valid token names; a TokenError subclass says why one is not valid.

    Checks, in order: format, signature, claims' types, audience, lifetime, expiry.
    Single use is the caller's job (keyed on `Target.jti`).
    """
    _check_key(key)
    now = time.time() if now is None else now
    segments = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else []
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise MalformedToken("not a deskbroker VNC token")
    header, payload, signature = segments
    if header != _HEADER:
        raise MalformedToken("unsupported token header (only HS256 JWTs are accepted)")
    if not hmac.compare_digest(signature, _signature(key, f"{header}.{payload}")):
        raise BadSignature("token signature does not match (signed with another key?)")
    claims = _claims(payload)
    if claims["aud"] != audience:
        raise WrongAudience(f"token is for {claims['aud']!r}, not {audience!r}")
    lifetime = claims["exp"] - claims["iat"]
    if lifetime > max_ttl:
        raise LifetimeTooLong(f"token would live {lifetime} s; at most {max_ttl} s are allowed")
    if claims["iat"] > now + CLOCK_SKEW:  # else it would stay valid until long from now
        raise LifetimeTooLong(f"token is issued {claims['iat'] - now:.0f} s in the future")
    if now >= claims["exp"]:
        raise TokenExpired(f"token expired {now - claims['exp']:.0f} s ago")
    return Target(claims["host"], claims["port"], claims["jti"], claims["exp"])


def _claims(payload: str) -> dict:
    try:
        claims = json.loads(_decode(payload))
    except ValueError as error:  # also bad base64 and bad UTF-8
        raise MalformedToken("token payload is not base64url-encoded JSON") from error
    if not isinstance(claims, dict):
        raise MalformedToken("token payload is not a JSON object")
    checks = {
        "aud": lambda value: isinstance(value, str),
        "host": lambda value: isinstance(value, str) and _HOST.fullmatch(value),
        "port": lambda value: _is_int(value) and 1 <= value <= 65535,
        "jti": lambda value: isinstance(value, str) and _JTI.fullmatch(value),
        "iat": _is_int,
        "exp": _is_int,
    }
    for name, valid in checks.items():
        if name not in claims or not valid(claims[name]):
            raise MalformedToken(f"token claim {name!r} is missing or malformed")
    return claims


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the token key must be at least {MIN_KEY_BYTES} bytes")


def _signature(key: bytes, signing_input: str) -> str:
    return _encode(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


_HEADER = _encode(b'{"alg":"HS256","typ":"JWT"}')
