"""/api/admin/recordings: find, play, download and delete session recordings (admins only). Every
playback, download and deletion goes into the audit log; the file is found by the recording's id,
never by a path or name from the request."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, jsonify, request, send_file

from broker import audit, context
from broker.auth.current import client_ip, require_user, role_required
from broker.errors import Invalid, NotFound
from broker.models import ROLE_ADMIN, Recording
from broker.offload import read_chunks
from broker.openapi import binary, documented, path_id, query
from broker.query_args import int_arg
from broker.recordings import service
from broker.recordings.schemas import DeletedRecordingSchema, RecordingListSchema, listing_json

bp = Blueprint("recordings", __name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_ERRORS = {401: "Not signed in", 403: "Not an admin", 404: "No such recording"}
_ID = path_id("recording_id", "The recording's id")
_FILE = binary("The recording: Guacamole protocol instructions, as guacd wrote them", "application/octet-stream")


def _directory() -> str:
    return context.settings().tier.recording_dir


def _date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name} is a date such as 2026-12-05.") from None


@bp.get("/api/admin/recordings")
@documented(
    "Session recordings, newest first, with the storage they take (admins)",
    params=[
        query("user", description="Only recordings of people whose username contains this"),
        query("desktop_type", description="Only recordings of this desktop type (its id)"),
        query("from", {"type": "string", "format": "date"}, "Only recordings begun on this day or later"),
        query("to", {"type": "string", "format": "date"}, "Only recordings begun on this day or earlier"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
        query("offset", {"type": "integer", "minimum": 0, "default": 0}),
    ],
    responses={
        200: ("A page of recordings", RecordingListSchema),
        400: "Bad limit, offset, date or filter",
        401: "Not signed in",
        403: "Not an admin",
    },
)
@role_required(ROLE_ADMIN)
def recordings():
    limit, offset = int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), int_arg("offset", 0, 0, 10**9)
    page = service.find(
        context.db(),
        person=(request.args.get("user") or "").strip()[:255] or None,
        desktop_type=(request.args.get("desktop_type") or "").strip()[:64] or None,
        since=_date("from"),
        until=_date("to"),
        limit=limit,
        offset=offset,
    )
    # What the files hold now: guacd writes a recording's last bytes after its tunnel ended, and
    # one under way has none in the table yet.
    sizes = [service.size_on_disk(_directory(), r) for r in page.items]
    return jsonify(listing_json(page, sizes, limit, offset, service.storage(_directory())))


def _send(recording_id: str, action: str, *, attachment: bool):
    db = context.db()
    recording = service.get(db, recording_id)
    try:
        handle = service.path_of(_directory(), recording).open("rb")
    except OSError:
        raise NotFound("This recording's file is gone.", code="recording_file_missing") from None
    size = service.size_on_disk(_directory(), recording)
    _audit(action, recording)
    db.commit()
    response = send_file(
        handle,
        mimetype="application/octet-stream",
        as_attachment=attachment,
        download_name=f"recording-{recording.username or 'unknown'}-{recording.started_at:%Y%m%d-%H%M%S}.guac",
        etag=False,
        conditional=False,
    )
    response.response = read_chunks(handle, size)
    response.content_length = size
    response.headers["Cache-Control"] = "no-store"
    return response


def _audit(action: str, recording: Recording) -> None:
    audit.record(
        context.db(),
        action,
        require_user(),
        recording.id,
        client_ip(),
        user=recording.username,
        desktop_type=recording.desktop_type_id,
        started_at=recording.started_at.isoformat(timespec="seconds"),
    )


@bp.get("/api/admin/recordings/<key:recording_id>/play")
@documented(
    "A recording's file for the browser's player (admins; audited as recording_play)",
    params=[_ID],
    responses={200: _FILE, **_ERRORS},
)
@role_required(ROLE_ADMIN)
def play(recording_id: str):
    return _send(recording_id, "recording_play", attachment=False)


@bp.get("/api/admin/recordings/<key:recording_id>/download")
@documented(
    "Download a recording, as an attachment (admins; audited as recording_download)",
    params=[_ID],
    responses={200: _FILE, **_ERRORS},
)
@role_required(ROLE_ADMIN)
def download(recording_id: str):
    return _send(recording_id, "recording_download", attachment=True)


@bp.delete("/api/admin/recordings/<key:recording_id>")
@documented(
    "Delete a recording and its file (admins; audited as recording_delete)",
    params=[_ID],
    responses={200: ("Deleted", DeletedRecordingSchema), **_ERRORS, 403: "Not an admin, or missing CSRF token"},
)
@role_required(ROLE_ADMIN)
def delete(recording_id: str):
    db = context.db()
    recording = service.get(db, recording_id)
    _audit("recording_delete", recording)
    service.delete(db, _directory(), recording)
    db.commit()
    return jsonify(deleted=recording_id)
