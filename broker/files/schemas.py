"""The JSON shapes of the file manager: spaces, folder listings, uploads and changes."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import Length, OneOf

from broker.files.tree import Entry
from broker.schemas import Base, Time


class FileSpaceSchema(Base):
    space = fields.String()
    writable = fields.Boolean()
    title = fields.String(metadata={"description": "an assignment folder's name; empty for the others"})
    quota = fields.Integer(metadata={"description": "bytes uploads may fill the space to"})
    used = fields.Integer(metadata={"description": "bytes in its files (walked at most every 30 s)"})
    used_complete = fields.Boolean(
        metadata={"description": "false: the count stopped at its limit of entries or time, so `used` is a lower bound"}
    )
    max_file_size = fields.Integer(metadata={"description": "largest file an upload may bring, bytes"})


class FileEntrySchema(Base):
    name = fields.String()
    type = fields.String(validate=OneOf(["file", "folder", "link", "other"]))
    size = fields.Integer()
    modified = Time()


class FileListSchema(Base):
    space = fields.String()
    path = fields.String()
    entries = fields.List(fields.Nested(FileEntrySchema))
    complete = fields.Boolean(
        metadata={
            "description": "false: the folder holds more entries than the listing limit; those beyond it are left out"
        }
    )


class UploadedFileSchema(Base):
    name = fields.String()
    size = fields.Integer()


class UploadedSchema(Base):
    uploaded = fields.List(fields.Nested(UploadedFileSchema))


class FilePathSchema(Base):
    path = fields.String(required=True)


class FileRenameSchema(Base):
    path = fields.String(required=True)
    name = fields.String(required=True, validate=Length(max=255))


class FileMoveSchema(Base):
    path = fields.String(required=True)
    to = fields.String(required=True, metadata={"description": "the folder to move it into"})


_SPACE = FileSpaceSchema()
_LISTING = FileListSchema()
_UPLOADED = UploadedSchema()


def space_json(**values: object) -> dict:
    return _SPACE.dump(values)


def listing_json(space: str, path: str, entries: list[Entry], complete: bool) -> dict:
    return _LISTING.dump({"space": space, "path": path, "entries": entries, "complete": complete})


def uploaded_json(saved: list) -> dict:
    return _UPLOADED.dump({"uploaded": saved})
