"""The file manager's JSON API under /api/files/<space>/…: thin HTTP over broker.files.service.

Paths travel as `?path=` (reading, uploading) or in a JSON body (changes), relative to the
space's root. Changes are written to the audit log.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, jsonify, request, send_file

from broker import audit, context
from broker.auth.current import client_ip, login_required, require_user
from broker.errors import Invalid, TooLarge
from broker.files import files
from broker.files.multipart import uploaded_files
from broker.files.service import MULTIPART_ALLOWANCE, Space
from broker.files.tree import Entry

bp = Blueprint("files", __name__)
SPACE = "/api/files/<space>"


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def entry_json(entry: Entry) -> dict:
    return {"name": entry.name, "type": entry.type, "size": entry.size, "modified": _time(entry.modified)}


def _body(*names: str) -> list[str]:
    body = request.get_json(silent=True)
    values = [body.get(name) if isinstance(body, dict) else None for name in names]
    if not all(isinstance(value, str) for value in values):
        raise Invalid("Send JSON with the string field(s) " + ", ".join(names) + ".")
    return values


def _record(action: str, space: Space, path: str, **details: object) -> None:
    db = context.db()
    # The audit log's target holds 255 characters; paths may be longer.
    audit.record(db, action, require_user(), space.label(path)[:255], client_ip(), **details)
    db.commit()


@bp.get(SPACE)
@login_required
def space_info(space: str):
    service = files()
    found = service.space(require_user(), space)
    usage = service.usage(found)
    return jsonify(space=found.name, title=found.title, writable=found.writable, quota=found.quota,
                   used=usage.bytes, used_complete=usage.complete,
                   max_file_size=service.settings.files_max_file_size)


@bp.get(f"{SPACE}/list")
@login_required
def list_folder(space: str):
    path = request.args.get("path", "")
    found = files().list(files().space(require_user(), space), path)
    return jsonify(space=space, path=path, entries=[entry_json(entry) for entry in found.entries],
                   complete=found.complete)


@bp.get(f"{SPACE}/download")
@login_required
def download(space: str):
    handle, size, modified, name = files().open(files().space(require_user(), space), request.args.get("path", ""))
    response = send_file(handle, mimetype="application/octet-stream", as_attachment=True, download_name=name,
                         last_modified=modified, etag=False, conditional=False)
    response.response = files().chunks(handle, size)  # send_file's headers, the bytes read off the loop
    response.content_length = size
    return response


@bp.post(f"{SPACE}/upload")
@login_required
def upload(space: str):
    found = files().space(require_user(), space, write=True)
    # The app's request limit is small; an upload may be as large as the space's quota.
    request.max_content_length = found.quota + MULTIPART_ALLOWANCE
    if (request.content_length or 0) > request.max_content_length:
        raise TooLarge(f"This upload is larger than the {space} space's quota.", code="upload_too_large")
    folder = request.args.get("path", "")
    saved = files().upload(found, folder, uploaded_files(request.stream, request.content_type or ""),
                           replace=request.args.get("replace") == "true")
    _record("files_upload", found, folder, files={file.name: file.size for file in saved})
    return jsonify(uploaded=[{"name": file.name, "size": file.size} for file in saved]), 201


@bp.post(f"{SPACE}/folder")
@login_required
def make_folder(space: str):
    found, (path,) = files().space(require_user(), space, write=True), _body("path")
    files().make_folder(found, path)
    _record("files_folder", found, path)
    return jsonify(path=path), 201


@bp.post(f"{SPACE}/rename")
@login_required
def rename(space: str):
    found, (path, name) = files().space(require_user(), space, write=True), _body("path", "name")
    renamed = files().rename(found, path, name)
    _record("files_rename", found, path, to=renamed)
    return jsonify(path=renamed)


@bp.post(f"{SPACE}/move")
@login_required
def move(space: str):
    found, (path, into) = files().space(require_user(), space, write=True), _body("path", "to")
    moved = files().move(found, path, into)
    _record("files_move", found, path, to=moved)
    return jsonify(path=moved)


@bp.post(f"{SPACE}/delete")
@login_required
def delete(space: str):
    found, (path,) = files().space(require_user(), space, write=True), _body("path")
    files().delete(found, path)
    _record("files_delete", found, path)
    return jsonify(path=path)
