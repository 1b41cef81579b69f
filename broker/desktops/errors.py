"""Why a desktop request was refused or failed: a code for programs, a message for people."""

from __future__ import annotations


class DesktopError(Exception):
    status = 400
    code = "desktop_error"

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status


class NoDesktop(DesktopError):
    status, code = 404, "no_desktop"


class NotAllowed(DesktopError):
    status, code = 403, "desktop_type_not_allowed"


class QuotaExceeded(DesktopError):
    status, code = 409, "quota_exceeded"


class Busy(DesktopError):
    status, code = 409, "desktop_busy"


class StartFailed(DesktopError):
    status, code = 502, "start_failed"
