"""What one package tells the others without importing them (blinker signals, as Flask's own).

`roles_changed`: auth changed a person's roles or groups (an admin, or a sign-in at the provider);
sent with the User and `db=` the session, before the caller commits. broker.tunnels.service answers
it by ending the watches those roles no longer allow, so auth never imports tunnels (which imports
auth). Everything that changes roles and keeps running imports broker.tunnels.service: the app (its
routes) and `broker users` (cli.py).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

roles_changed = _signals.signal("roles-changed")
