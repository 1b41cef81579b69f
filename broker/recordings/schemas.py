"""The JSON shapes of the recordings admins see."""

from __future__ import annotations

from marshmallow import fields

from broker.models import Recording
from broker.recordings.service import Page, Storage
from broker.schemas import Base, Time


class RecordingSchema(Base):
    id = fields.String()
    user = fields.String(attribute="username", metadata={"description": "the person recorded (username then)"})
    user_id = fields.Integer(allow_none=True)
    desktop_type = fields.String(attribute="desktop_type_id")
    desktop_id = fields.String()
    connection_id = fields.String(allow_none=True)
    started_at = Time()
    ended_at = Time(allow_none=True, metadata={"description": "null while the session is being recorded"})
    size_bytes = fields.Integer(metadata={"description": "the file's size now (0: its file is gone)"})


class StorageSchema(Base):
    files = fields.Integer(metadata={"description": "files in the recordings directory"})
    bytes = fields.Integer(metadata={"description": "what they take, in bytes"})


class RecordingListSchema(Base):
    recordings = fields.List(fields.Nested(RecordingSchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "how many match, over all pages"})
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    storage = fields.Nested(StorageSchema, required=True)


class DeletedRecordingSchema(Base):
    deleted = fields.String()


_RECORDING = RecordingSchema()
_STORAGE = StorageSchema()


def recording_json(recording: Recording, size: int | None = None) -> dict:
    answer = _RECORDING.dump(recording)
    if size is not None:
        answer["size_bytes"] = size
    return answer


def listing_json(page: Page, sizes: list[int], limit: int, offset: int, storage: Storage) -> dict:
    return {
        "recordings": [recording_json(r, size) for r, size in zip(page.items, sizes, strict=True)],
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "storage": _STORAGE.dump(storage),
    }


def storage_json(storage: Storage) -> dict:
    return _STORAGE.dump(storage)
