"""The file manager's JSON API under /api/files/<space>/…: thin HTTP over broker.files.service.

Paths travel as `?path=` (reading, uploading) or in a JSON body (changes), relative to the
space's root. Changes are written to the audit log.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request, send_file

from broker import audit, context
from broker.auth.current import client_ip, current_user, login_required, require_user
from broker.classroom import state as classroom_state
from broker.errors import Invalid, TooLarge
from broker.files import files
from broker.files.multipart import uploaded_files
from broker.files.schemas import (
    FileListSchema,
    FileMoveSchema,
    FilePathSchema,
    FileRenameSchema,
    FileSpaceSchema,
    UploadedSchema,
    listing_json,
    space_json,
    uploaded_json,
)
from broker.files.service import MULTIPART_ALLOWANCE, Space
from broker.openapi import binary, documented, page
from broker.schemas import Base

bp = Blueprint("files", __name__)
SPACE = "/api/files/<space>"


@bp.before_request
def _not_while_locked() -> None:
    """While a teacher has locked a person's screens, they change no files (drops on the viewer, uploads)."""
    if request.method == "POST" and (user := current_user()) is not None:
        classroom_state.refuse_if_locked(context.db(), user)


# For the document: the space in each path, `?path=`, and the errors of reading and of changing.
_SPACE = {
    "name": "space",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^(home|public|assignment-[0-9]+)$"},
    "description": "home: your own home (what your desktops see at /home/user); public: shared, readable by "
    "everyone, writable by teachers and admins (desktops see it read-only at /srv/public); "
    "assignment-<id>: an assignment's folder, writable by the teachers who manage the "
    "assignment, readable by those it is assigned to (their desktops see it read-only at "
    "/home/user/<folder>)",
}


def _path(description: str, required: bool = True) -> dict:
    return {
        "name": "path",
        "in": "query",
        "required": required,
        "schema": {"type": "string", "maxLength": 4096},
        "description": description + " Relative to the space's root, names joined by '/' (e.g. docs/a.txt).",
    }


_ERRORS = {
    400: "Bad path or name (.., absolute, NUL, backslash, too long), a link, or not a file",
    401: "Not signed in",
    404: "No such space, file or folder",
    503: "The volumes cannot be reached (engine down, or the broker not on its host)",
}
# A path in the query string makes the URL long: the HTTP server takes request lines of 4094 bytes.
_LONG_URL = {
    414: page(
        "The URL is too long (over 4094 bytes, percent-encoding counted); long paths with non-ASCII names may not fit"
    )
}
_CHANGE_ERRORS = {
    **_ERRORS,
    403: "Public space and not a teacher or admin, or missing CSRF token",
    409: "Something of that name exists already",
}


def _change(summary: str, body: type, answer: str, status: int = 200):
    return documented(
        summary, params=[_SPACE], body=body, responses={status: (answer, FilePathSchema), **_CHANGE_ERRORS}
    )


def _body(schema: type[Base]) -> list[str]:
    """The body's text fields that `schema` names, in its order (their limits are the service's to judge,
    with its own messages)."""
    names = list(schema().fields)
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
@documented(
    "A file space: may you change it, its quota and how much of it is used",
    params=[_SPACE],
    responses={200: ("The space", FileSpaceSchema), **_ERRORS},
)
@login_required
def space_info(space: str):
    service = files()
    found = service.space(require_user(), space)
    usage = service.usage(found)
    return jsonify(
        space_json(
            space=found.name,
            title=found.title,
            writable=found.writable,
            quota=found.quota,
            used=usage.bytes,
            used_complete=usage.complete,
            max_file_size=service.settings.files_max_file_size,
        )
    )


@bp.get(f"{SPACE}/list")
@documented(
    "What a folder holds (links are shown, never followed)",
    params=[_SPACE, _path("The folder; empty or left out for the root.", required=False)],
    responses={200: ("The folder", FileListSchema), **_ERRORS, **_LONG_URL},
)
@login_required
def list_folder(space: str):
    path = request.args.get("path", "")
    found = files().list(files().space(require_user(), space), path)
    return jsonify(listing_json(space, path, found.entries, found.complete))


@bp.get(f"{SPACE}/download")
@documented(
    "Download a file (as an attachment, application/octet-stream)",
    params=[_SPACE, _path("The file.")],
    responses={
        200: binary("The file's bytes", "application/octet-stream"),
        409: "A folder, or the file changed while it was opened",
        **_ERRORS,
        **_LONG_URL,
    },
)
@login_required
def download(space: str):
    handle, size, modified, name = files().open(files().space(require_user(), space), request.args.get("path", ""))
    response = send_file(
        handle,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=name,
        last_modified=modified,
        etag=False,
        conditional=False,
    )
    response.response = files().chunks(handle, size)  # send_file's headers, the bytes read off the loop
    response.content_length = size
    return response


@bp.post(f"{SPACE}/upload")
@documented(
    "Upload files into a folder, streamed to disk; all are saved or none",
    params=[
        _SPACE,
        _path("The folder; empty or left out for the root.", required=False),
        {
            "name": "replace",
            "in": "query",
            "schema": {"type": "string", "enum": ["true", "false"]},
            "description": "true: replace files of the same name (otherwise 409)",
        },
    ],
    form={
        "type": "object",
        "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    },
    responses={
        201: ("Saved", UploadedSchema),
        **_CHANGE_ERRORS,
        **_LONG_URL,
        413: "A file is larger than the size limit, or the upload than the quota",
        507: "The upload does not fit in the space's quota, or the disk is full",
    },
)
@login_required
def upload(space: str):
    found = files().space(require_user(), space, write=True)
    # The app's request limit is small; an upload may be as large as the space's quota.
    request.max_content_length = found.quota + MULTIPART_ALLOWANCE
    if (request.content_length or 0) > request.max_content_length:
        raise TooLarge(f"This upload is larger than the {space} space's quota.", code="upload_too_large")
    folder = request.args.get("path", "")
    saved = files().upload(
        found,
        folder,
        uploaded_files(request.stream, request.content_type or ""),
        replace=request.args.get("replace") == "true",
    )
    _record("files_upload", found, folder, files={file.name: file.size for file in saved})
    return jsonify(uploaded_json(saved)), 201


@bp.post(f"{SPACE}/folder")
@_change("Make a folder", FilePathSchema, "Made", 201)
@login_required
def make_folder(space: str):
    found, (path,) = files().space(require_user(), space, write=True), _body(FilePathSchema)
    files().make_folder(found, path)
    _record("files_folder", found, path)
    return jsonify(path=path), 201


@bp.post(f"{SPACE}/rename")
@_change("Rename a file or folder in place", FileRenameSchema, "Its new path")
@login_required
def rename(space: str):
    found, (path, name) = files().space(require_user(), space, write=True), _body(FileRenameSchema)
    renamed = files().rename(found, path, name)
    _record("files_rename", found, path, to=renamed)
    return jsonify(path=renamed)


@bp.post(f"{SPACE}/move")
@_change("Move a file or folder into another folder", FileMoveSchema, "Its new path")
@login_required
def move(space: str):
    found, (path, into) = files().space(require_user(), space, write=True), _body(FileMoveSchema)
    moved = files().move(found, path, into)
    _record("files_move", found, path, to=moved)
    return jsonify(path=moved)


@bp.post(f"{SPACE}/delete")
@_change("Delete a file, a link or a folder with all it holds", FilePathSchema, "What was deleted")
@login_required
def delete(space: str):
    found, (path,) = files().space(require_user(), space, write=True), _body(FilePathSchema)
    files().delete(found, path)
    _record("files_delete", found, path)
    return jsonify(path=path)
