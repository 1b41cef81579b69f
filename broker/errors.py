"""Errors people can understand: JSON for the API, a page for the browser, never a stack trace."""

from __future__ import annotations

import logging
from typing import Callable

from flask import Flask, current_app, jsonify, render_template, request
from gunicorn.http.errors import NoMoreData, ParseException
from sqlalchemy.exc import OperationalError, InterfaceError
from werkzeug.exceptions import HTTPException

from broker.db import NulInText

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def browser_page(view: Callable) -> Callable:
    """Mark an /api view that browsers navigate to (the sign-in redirects): its errors are pages."""
    view.browser_page = True
    return view


def _wants_json() -> bool:
    if getattr(current_app.view_functions.get(request.endpoint or ""), "browser_page", False):
        return False
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   params: dict[str, str] | None = None):
    """`params`: the details in `message` (a provider's name, its reason) that the error page's
    translation of `code` (web/src/strings.js, errorPage.<code>) puts into its own sentence."""
    if _wants_json():
        response = jsonify(error=code, message=message)
    else:
        response = render_template("error.html", status=status, code=code, message=message, params=params or {})
    return response, status, headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(ParseException)
    @app.errorhandler(NoMoreData)
    def _malformed_body(exc: Exception):
        # gunicorn parses a chunked body only as a view reads it: bad chunk sizes, a body cut short.
        return error_response(400, "bad_body", "The request's body is malformed or incomplete.")

    @app.errorhandler(NulInText)
    def _nul_in_text(exc: NulInText):
        return error_response(400, "bad_text", "Text with a NUL character cannot be stored or looked up.")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(exc: Exception):
        log.error("database unavailable: %s", type(exc).__name__)
        return error_response(503, "database_unavailable",
                              "The database is not reachable right now. Please try again in a moment.",
                              {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
