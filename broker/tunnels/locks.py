"""Whether a tunnel's person has their screens locked by a teacher (broker.classroom): for all the
tunnels of one broker process with one query per `max_age`, as the KillWatch looks for kills."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from broker.classroom.state import locked_among

log = logging.getLogger(__name__)


class LockWatch:
    def __init__(self, sessions: sessionmaker[Session], max_age: float = 0.5):
        self.sessions, self.max_age = sessions, max_age
        self._asking: set[int] = set()  # people whose tunnels asked since the last look
        self._locked: set[int] = set()
        self._looked_at = float("-inf")
        self._looking = threading.Lock()

    def locked(self, user_id: int) -> bool:
        """At most `max_age` old; while the database is away, the last answer stands (a lock holds)."""
        self._asking.add(user_id)
        if time.monotonic() - self._looked_at >= self.max_age and self._looking.acquire(blocking=False):
            try:
                self._look()
            finally:
                self._looking.release()
        return user_id in self._locked

    def _look(self) -> None:
        asking, self._asking = self._asking, set()
        try:
            with self.sessions() as db:
                locked = locked_among(db, asking)
            self._locked = (self._locked - asking) | locked
        except (OperationalError, InterfaceError) as error:
            self._asking |= asking
            log.warning("could not look for locked screens: the database is unreachable (%s)", type(error).__name__)
        finally:
            self._looked_at = time.monotonic()
