"""Errors people can understand: JSON for the API, a page for the browser, never a stack trace.

Services raise domain errors: a kind below (NotFound, Conflict, ...), or a package's own error
class that names its kind first (`class NoDesktop(NotFound, DesktopError)`). A domain error says
what went wrong in words (`message`, for people; the error page translates `code` through
web/src/strings.js, errorPage.<code>, filling in `params`) and never how HTTP says it: `STATUS`
below is the one place that turns a kind into a status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app, jsonify, render_template, request
from gunicorn.http.errors import NoMoreData, ParseException
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from broker.db import NulInText

log = logging.getLogger(__name__)


class DomainError(Exception):
    """The broker refuses a request or cannot carry it out. `code` for programs (a class default,
    or given); `retry_after`: seconds after which trying again may work."""

    code = "error"
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        params: dict[str, str] | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.params = params or {}
        if retry_after is not None:
            self.retry_after = retry_after


class Invalid(DomainError):
    """The request itself is malformed or asks for something that cannot be."""

    code = "bad_request"


class NotSignedIn(DomainError):
    """Nobody (valid) is signed in, or the credentials shown are wrong."""


class Forbidden(DomainError):
    """Whoever asks may not do this."""

    code = "forbidden"


class NotFound(DomainError):
    """There is no such thing (for whoever asks)."""

    code = "not_found"


class Conflict(DomainError):
    """The thing is not in a state that allows it (busy, exists, in use)."""


class TooLarge(DomainError):
    """What was sent is larger than allowed."""


class TooManyAttempts(DomainError):
    """Asked too often; `retry_after` says when again."""


class Failed(DomainError):
    """Something the broker relies on (the engine, a desktop, the sign-in service) failed."""


class Unavailable(DomainError):
    """Something the broker needs is not there right now."""


class TimedOut(DomainError):
    """Something the broker relies on did not answer in time."""


class OutOfSpace(DomainError):
    """The disk or a quota has no room for it."""


# The one mapping from a domain error's kind to its HTTP status.
STATUS: dict[type[DomainError], int] = {
    Invalid: 400,
    NotSignedIn: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    TooManyAttempts: 429,
    Failed: 502,
    Unavailable: 503,
    TimedOut: 504,
    OutOfSpace: 507,
}


def status_of(error: DomainError) -> int:
    """The status of the first kind among the error's classes (its own first, then its bases in order)."""
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), 500)


def browser_page(view: Callable) -> Callable:
    """Mark an /api view that browsers navigate to (the sign-in redirects): its errors are pages."""
    view.browser_page = True
    return view


def _wants_json() -> bool:
    if getattr(current_app.view_functions.get(request.endpoint or ""), "browser_page", False):
        return False
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
):
    """`params`: the details in `message` (a provider's name, its reason) that the error page's
    translation of `code` (web/src/strings.js, errorPage.<code>) puts into its own sentence."""
    if _wants_json():
        response = jsonify(error=code, message=message)
    else:
        response = render_template("error.html", status=status, code=code, message=message, params=params or {})
    return response, status, headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return error_response(status_of(exc), exc.code, exc.message, headers, exc.params)

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
        return error_response(
            503,
            "database_unavailable",
            "The database is not reachable right now. Please try again in a moment.",
            {"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
