"""Which web pages may open a WebSocket to a desktop: the Origin a browser sends, compared with
the broker's public URL (and any origins an admin adds).

A browser attaches its cookies to a WebSocket opened by any site, so without this check a foreign
page could drive a signed-in person's desktop. Browsers always send Origin on a WebSocket.

Standard library only: the websockify image copies this file, as it does `vnc_token.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """'HTTPS://Desk.Example:443/path' -> 'https://desk.example'; ValueError if it is no http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has no valid port") from None
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"an http:// or https:// address, not {url!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


def allowed_origins(public_url: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The public URL's origin and the extra ones; a loopback public URL (the quickstart's
    http://localhost:8080) under each of its names, as people type either."""
    origins = {origin_of(url) for url in (public_url, *extra)}
    for origin in list(origins):
        scheme, _, rest = origin.partition("://")
        host, port = (rest.rsplit(":", 1) + [""])[:2] if not rest.endswith("]") else (rest, "")
        if host in _LOOPBACK:
            origins |= {f"{scheme}://{name}" + (f":{port}" if port else "") for name in _LOOPBACK}
    return frozenset(origins)


def check_origin(sent: str | None, allowed: frozenset[str]) -> str | None:
    """None when `sent` (the Origin header) is allowed, else why not, for the log and the client."""
    if not sent:
        return "the request has no Origin header (a browser always sends one)"
    try:
        origin = origin_of(sent)
    except ValueError:
        return f"its Origin {sent[:100]!r} is not a web address"
    if origin not in allowed:
        return f"its Origin {origin[:100]!r} is not this server's address"
    return None
