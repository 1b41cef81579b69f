"""Why a desktop request was refused or failed: a code for programs, a message for people."""

from __future__ import annotations

from broker.errors import Conflict, Failed, Forbidden, Invalid, NotFound, TimedOut


class DesktopError(Invalid):
    code = "desktop_error"


class NoDesktop(NotFound, DesktopError):
    code = "no_desktop"


class NotAllowed(Forbidden, DesktopError):
    code = "desktop_type_not_allowed"


class QuotaExceeded(Conflict, DesktopError):
    code = "quota_exceeded"


class Busy(Conflict, DesktopError):
    code = "desktop_busy"


class StartFailed(Failed, DesktopError):
    code = "start_failed"


class StartTimedOut(TimedOut, StartFailed):
    code = "start_timeout"
