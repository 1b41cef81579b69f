"""Why access to a desktop ended, as the tunnel tells the viewer and the connection log records it.

Every act that ends access ends the live tunnels concerned through one mechanism: each broker
process looks, for all its tunnels at once, at their connection rows (KillWatch). A row ends its
tunnel when an act flagged it (`kill_requested_at` and `kill_reason`: an admin's kill, a watch no
longer allowed), or when what it was opened under has ended: the sign-in (signed out, signed out
everywhere, expired), the account (disabled) or the desktop (stopped, removed). The same checks
refuse a tunnel token whose access ended before it was redeemed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ADMIN = "admin"
ACCOUNT_DISABLED = "account_disabled"
SIGNED_OUT = "signed_out"
DESKTOP_STOPPED = "desktop_stopped"
WATCH_REVOKED = "watch_revoked"
HELP_ENDED = "help_ended"
DEMO_ENDED = "demo_ended"


@dataclass(frozen=True)
class Reason:
    message: str  # the `error` instruction's text; the viewer shows its own words for it (problems.js)
    logged: str  # the connection log's end_reason


REASONS = {
    ADMIN: Reason("An administrator ended this connection.", "ended by an administrator"),
    ACCOUNT_DISABLED: Reason("Your account was disabled.", "the account was disabled"),
    SIGNED_OUT: Reason("You were signed out.", "its sign-in ended"),
    DESKTOP_STOPPED: Reason("The desktop was stopped.", "the desktop was stopped"),
    WATCH_REVOKED: Reason("You may no longer watch this desktop.", "no longer allowed to watch"),
    HELP_ENDED: Reason("The help with control was ended.", "help ended"),
    DEMO_ENDED: Reason("The demo ended.", "the demo ended"),
}


def why_ended(
    *,
    kill_requested_at: datetime | None,
    kill_reason: str,
    user_disabled: bool | None,
    session_id: str | None,
    session_revoked_at: datetime | None,
    session_expires_at: datetime | None,
    desktop_state: str | None,
    now: datetime,
) -> str | None:
    """The reason code a connection (or a token about to open one) has lost its access, or None.

    `user_disabled` None: the account is gone; `session_expires_at` None with a `session_id`: the
    sign-in is gone; `desktop_state` None: the desktop is gone."""
    if kill_requested_at is not None:
        return kill_reason if kill_reason in REASONS else ADMIN
    if user_disabled is None or user_disabled:
        return ACCOUNT_DISABLED
    if session_id is not None and (
        session_expires_at is None or session_revoked_at is not None or session_expires_at <= now
    ):
        return SIGNED_OUT
    if desktop_state != "running":
        return DESKTOP_STOPPED
    return None


# How a tunnel's end is counted (broker/metrics.py): a bounded kind for each logged reason.
_RELAY_ENDS = (
    ("guacd silent", "guacd_silent"),
    ("guacd closed", "guacd_closed"),
    ("guacd side", "guacd_error"),
    ("browser silent", "browser_silent"),
    ("browser", "browser_closed"),
    ("malformed instruction", "malformed_input"),
)


def end_kind(logged: str) -> str:
    """The kind of a connection log's end_reason: an access end's code (REASONS), a relay end's, or other."""
    for code, reason in REASONS.items():
        if logged == reason.logged:
            return code
    return next((kind for start, kind in _RELAY_ENDS if logged.startswith(start)), "other")
