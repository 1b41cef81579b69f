"""Files from a multipart/form-data body, one part after the other, as the bytes arrive.

Nothing is held in memory beyond one chunk and a part's headers, and nothing is spooled to a
temporary file: the caller writes each chunk where it belongs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Event, Field, File, MultipartDecoder, NeedData

from broker.errors import Invalid

CHUNK = 256 * 1024
HEADERS_LIMIT = 64 * 1024  # what the decoder may hold beyond a chunk: one part's headers


def _bad(message: str) -> Invalid:
    return Invalid(message, code="bad_upload")


def uploaded_files(stream: BinaryIO, content_type: str) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(file name, its chunks) per file part. Read each file's chunks before asking for the next file."""
    mimetype, options = parse_options_header(content_type)
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise _bad("Send the files as multipart/form-data (e.g. a FormData with the field `files`).")
    events = _events(stream, MultipartDecoder(options["boundary"].encode(), CHUNK + HEADERS_LIMIT))
    for event in events:
        if isinstance(event, File):
            yield event.filename, _data(events)
        elif isinstance(event, Field):
            raise _bad(f"Only files are expected, not the field {event.name!r}.")
        # Data of a file the caller did not read to the end is passed over here.


def _events(stream: BinaryIO, decoder: MultipartDecoder) -> Iterator[Event]:
    while True:
        try:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                chunk = stream.read(CHUNK)
                decoder.receive_data(chunk or None)
                continue
        except RequestEntityTooLarge:  # the decoder's buffer, not the body
            raise _bad("A part's headers are too long.") from None
        except ValueError as error:  # malformed or cut short; UnicodeDecodeError is one too
            raise _bad(f"The upload is malformed or incomplete ({error}).") from None
        if isinstance(event, Epilogue):
            return
        yield event


def _data(events: Iterator[Event]) -> Iterator[bytes]:
    for event in events:
        assert isinstance(event, Data)
        if event.data:
            yield event.data
        if not event.more_data:
            return
