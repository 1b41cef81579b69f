"""The app's routes as the hostile tests enumerate them: from its url_map, so a new route is attacked
as soon as it exists, and requests to them that read whole answers (an event stream only up to its
first event)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

import requests

from broker.app import api_document

SPEC = api_document()  # what the broker serves

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ARGUMENT = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


@dataclass(frozen=True)
class Route:
    rule: str  # as Flask writes it, e.g. /api/desktops/<desktop_id>/connect
    method: str
    arguments: tuple[tuple[str, str], ...]  # (name, converter: "" for a plain string, "id", "key", "path", …)

    def url(self, values: dict[str, object]) -> str:
        return _ARGUMENT.sub(lambda m: quote(str(values[m.group(2)]), safe=""), self.rule)

    @property
    def changes(self) -> bool:
        return self.method in STATE_CHANGING

    @property
    def public(self) -> bool:
        """Documented as needing no sign-in (or outside the API): pages, health, sign-in itself."""
        if not self.rule.startswith("/api/"):
            return True
        operation = SPEC["paths"].get(_ARGUMENT.sub(r"{\2}", self.rule), {}).get(self.method.lower(), {})
        return operation.get("security") == []

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def http_routes(app) -> list[Route]:
    """Every HTTP route and method but static files and WebSockets (tested on their own)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or getattr(rule, "websocket", False):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append(Route(rule.rule, method, tuple((name, kind) for kind, name in _ARGUMENT.findall(rule.rule))))
    return found


def read(answer: requests.Response, limit: int = 4 << 20) -> str:
    """The answer's text; of an event stream, what came up to the first event's data."""
    try:
        if answer.headers.get("Content-Type", "").startswith("text/event-stream"):
            lines = []
            for line in answer.iter_lines(decode_unicode=True):
                lines.append(line)
                if line.startswith("data:"):
                    break
            return "\n".join(lines)
        body = answer.raw.read(limit, decode_content=True)
        return body.decode(answer.encoding or "utf-8", errors="replace")
    finally:
        answer.close()
