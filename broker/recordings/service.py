"""The recordings table and the files guacd writes. No HTTP here; callers audit and commit.

guacd writes each recording into its /recordings, a volume the broker finds at the setting
DESKBROKER_RECORDING_DIR, under a file name the broker chose (a random hex id). Paths are only ever
made from that directory and a name stored here, never from a request.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.errors import NotFound
from broker.models import Desktop, Recording, User

log = logging.getLogger(__name__)

FILE_NAME = re.compile(r"[0-9a-f]{32}")  # what new_file_name() makes; anything else is never opened


@dataclass(frozen=True)
class Page:
    items: list[Recording]
    total: int


@dataclass(frozen=True)
class Storage:
    files: int
    bytes: int


def new_file_name() -> str:
    return uuid.uuid4().hex


def start(db: Session, connection_id: str, desktop: Desktop, user: User | None, file_name: str) -> Recording:
    """The row of a recording guacd has begun (with the connection's row, in the same commit)."""
    recording = Recording(
        id=str(uuid.uuid4()),
        connection_id=connection_id,
        user_id=user.id if user else None,
        username=user.username if user else "",
        desktop_type_id=desktop.desktop_type_id,
        desktop_id=desktop.id,
        file_name=file_name,
    )
    db.add(recording)
    return recording


def path_of(directory: str, recording: Recording) -> Path:
    if not FILE_NAME.fullmatch(recording.file_name):
        raise NotFound("This recording has no file.", code="recording_file_missing")
    return Path(directory) / recording.file_name


def size_on_disk(directory: str, recording: Recording) -> int:
    try:
        return path_of(directory, recording).stat().st_size
    except (OSError, NotFound):
        return 0


def finish(db: Session, directory: str, connection_id: str) -> None:
    """The connection's recording has ended: its end and size. The caller commits."""
    recording = db.scalar(select(Recording).where(Recording.connection_id == connection_id))
    if recording is not None:
        recording.ended_at = utcnow()
        recording.size_bytes = size_on_disk(directory, recording)


def find(
    db: Session,
    *,
    person: str | None = None,
    desktop_type: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Newest first; `person` matches a username exactly or in part, `until` includes its day."""
    query = select(Recording).order_by(Recording.started_at.desc(), Recording.id)
    if person:
        pattern = "%" + person.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(func.lower(Recording.username).like(pattern, escape="\\"))
    if desktop_type:
        query = query.where(Recording.desktop_type_id == desktop_type)
    if since:
        query = query.where(Recording.started_at >= datetime.combine(since, time.min))
    if until:
        query = query.where(Recording.started_at < datetime.combine(until + timedelta(days=1), time.min))
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return Page(list(db.scalars(query.limit(limit).offset(offset))), total)


def get(db: Session, recording_id: str) -> Recording:
    recording = db.get(Recording, recording_id)
    if recording is None:
        raise NotFound("There is no such recording.", code="no_recording")
    return recording


def delete(db: Session, directory: str, recording: Recording) -> None:
    """The file and the row. The caller commits."""
    try:
        path_of(directory, recording).unlink(missing_ok=True)
    except NotFound:
        pass
    db.delete(recording)


def expire(db: Session, directory: str, days: int) -> list[Recording]:
    """Delete the recordings that began more than `days` ago (0: none); returns them. The caller commits."""
    if days <= 0:
        return []
    old = list(db.scalars(select(Recording).where(Recording.started_at < utcnow() - timedelta(days=days))))
    for recording in old:
        delete(db, directory, recording)
    return old


def storage(directory: str) -> Storage:
    """What the recordings directory holds now (live recordings as far as written)."""
    files = size = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    except OSError:
        pass
    return Storage(files, size)
