"""Single use across processes: websockify forks a handler per connection, so the ids of
used tokens are kept as marker files (O_EXCL) in a directory, best on a tmpfs."""

from __future__ import annotations

import os
from pathlib import Path

# Seconds past expiry before a marker goes, so a handler that verified a replay just
# before expiry still finds the marker when it tries to burn the token.
SWEEP_AFTER = 10


class AlreadyUsed(Exception):
    """The token id has been used before."""


class UsedTokens:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write the used-token directory {directory}")
        self._directory = directory

    def burn(self, jti: str, expires: int, now: float) -> None:
        """Mark `jti` used until `expires`; AlreadyUsed if it was. `jti` must be file-name safe."""
        self._sweep(now)
        try:
            marker = os.open(self._directory / jti, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise AlreadyUsed(jti) from None
        try:
            os.utime(marker, (expires, expires))  # the marker's mtime is when it may go
        finally:
            os.close(marker)

    def _sweep(self, now: float) -> None:
        """Remove markers of tokens that expired a while ago: those are refused anyway."""
        for entry in os.scandir(self._directory):
            try:
                if entry.stat().st_mtime < now - SWEEP_AFTER:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass  # another handler swept it first
