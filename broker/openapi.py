"""The OpenAPI document of the JSON API, served at /api/openapi.json, generated from the code.

Each API view says what it does with `@documented(...)` right under its route (summary, parameters,
answers); the shapes of bodies and answers are the packages' marshmallow schemas, which apispec
turns into the document's components. Paths, methods and path parameters come from the app's URL
map, so a route cannot exist undocumented: a test compares the document with the routes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify

from broker import __version__
from broker.ids import ID_MAX, KEY_PATTERN
from broker.schemas import ErrorSchema, Time

bp = Blueprint("openapi", __name__)

# Ids as the routes take them (broker.ids): anything else is answered 404 like an unknown id.
WHOLE_ID = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
TEXT_ID = {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$", "maxLength": 64}
_CONVERTER_SCHEMAS = {"id": WHOLE_ID, "key": TEXT_ID}
_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")

_SIGNED_IN = [{"cookie": []}, {"bearer": []}, {"sessionHeader": []}, {"sessionQuery": []}]
_SECURITY_SCHEMES = {
    "cookie": {"type": "apiKey", "in": "cookie", "name": "deskbroker_session"},
    "bearer": {"type": "http", "scheme": "bearer"},
    "sessionHeader": {"type": "apiKey", "in": "header", "name": "X-Session-ID"},
    "sessionQuery": {"type": "apiKey", "in": "query", "name": "session_id"},
}
_DESCRIPTION = (
    "Per-user Linux desktops in the browser. Send the session as the `deskbroker_session` cookie "
    "(then with `X-CSRF-Token` on changes), `Authorization: Bearer`, `X-Session-ID` or `?session_id=`."
)

# An answer: a description (an error, as ErrorSchema), (description, schema) for JSON, or a whole
# OpenAPI response object (pages, files, pictures).
Answer = str | tuple[str, Any] | dict


def documented(
    summary: str | dict[str, str],
    *,
    responses: dict[int, Answer],
    description: str | None = None,
    public: bool = False,
    params: list[dict] = (),
    body: Any = None,
    body_required: bool = True,
    form: dict | None = None,
) -> Callable:
    """What an API view does, for the document. `summary` may differ per method ({"PUT": …}); `public`: no
    sign-in needed; `params`: query parameters, and path ones to describe (their schema comes from the
    route's converter unless given); `body`: the JSON body's schema; `form`: a multipart form's schema."""

    def mark(view: Callable) -> Callable:
        view.openapi = {
            "summary": summary,
            "responses": responses,
            "description": description,
            "public": public,
            "params": list(params),
            "body": body,
            "body_required": body_required,
            "form": form,
        }
        return view

    return mark


def path_id(name: str, description: str) -> dict:
    """A path's id, described; its schema is its converter's."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description + " (other values: 404, as for an unknown one)",
    }


def query(name: str, schema: dict | None = None, description: str | None = None, required: bool = False) -> dict:
    found = {"name": name, "in": "query", "schema": schema or {"type": "string"}}
    if description:
        found["description"] = description
    if required:
        found["required"] = True
    return found


def page(description: str) -> dict:
    """An answer as a page, not JSON: errors of the sign-in redirects (browsers navigate to them), and
    the HTTP server's own refusals."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def binary(description: str, media_type: str) -> dict:
    return {"description": description, "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}


def _json(schema: Any) -> dict:
    return {"application/json": {"schema": schema}}


def _answer(answer: Answer) -> dict:
    if isinstance(answer, str):
        return {"description": answer, "content": _json(ErrorSchema)}
    if isinstance(answer, tuple):
        text, schema = answer
        return {"description": text, "content": _json(schema)}
    return answer


def _operation(doc: dict, method: str, converters: dict[str, str]) -> dict:
    summary = doc["summary"] if isinstance(doc["summary"], str) else doc["summary"][method]
    described = {param["name"]: param for param in doc["params"] if param["in"] == "path"}
    params = [
        {
            "schema": _CONVERTER_SCHEMAS.get(kind, {"type": "string"}),
            **described.get(name, {}),
            "name": name,
            "in": "path",
            "required": True,
        }
        for name, kind in converters.items()
    ]
    params += [param for param in doc["params"] if param["in"] != "path"]
    operation: dict = {"summary": summary}
    if doc["description"]:
        operation["description"] = doc["description"]
    operation["security"] = [] if doc["public"] else _SIGNED_IN
    if params:
        operation["parameters"] = params
    if doc["body"] is not None and method not in ("GET", "DELETE"):  # a view for several methods: theirs
        operation["requestBody"] = {"content": _json(doc["body"])}
        if doc["body_required"]:
            operation["requestBody"]["required"] = True
    if doc["form"] is not None:
        operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": doc["form"]}}}
    operation["responses"] = {str(status): _answer(answer) for status, answer in doc["responses"].items()}
    return operation


def document(app: Flask) -> dict:
    """The OpenAPI document of `app`'s documented routes."""
    plugin = MarshmallowPlugin()
    spec = APISpec("deskbroker", __version__, "3.0.3", plugins=[plugin], info={"description": _DESCRIPTION})
    plugin.converter.map_to_openapi_type(Time, "string", "date-time")
    for name, scheme in _SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        doc = getattr(app.view_functions.get(rule.endpoint), "openapi", None)
        if doc is None:
            continue
        path = _ARGUMENT.sub(r"{\2}", rule.rule)
        converters = {name: kind for kind, name in _ARGUMENT.findall(rule.rule)}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(doc, method, converters)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/api/openapi.json")
@documented("This document", public=True, responses={200: {"description": "OpenAPI 3 document"}})
def openapi_json():
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = document(current_app)
    return jsonify(current_app.extensions["openapi"])
