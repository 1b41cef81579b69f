"""Uploaded pictures (desktop-type icons, logos, favicons) checked by their content and kept as data: URLs.

The browser is told a picture's type by what its bytes are, never by the name or the type the
uploader claimed, so nothing but PNG, JPEG, WebP, SVG or ICO can end up in a page.
"""

from __future__ import annotations

import base64
import binascii
import re


class PictureError(ValueError):
    """Not a picture we take; the message says why, for people."""


_SVG_START = re.compile(
    r"\A\s*(<\?xml[^>]*\?>\s*)?((<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*<svg[\s>]", re.DOTALL | re.IGNORECASE
)
# In an <img> an SVG's scripts never run; refused anyway, so the stored picture stays harmless.
_SVG_ACTIVE = re.compile(r"<script|\son\w+\s*=|javascript:", re.IGNORECASE)


def picture_type(raw: bytes) -> str | None:
    """The MIME type the bytes are (image/png, image/jpeg, image/webp, image/x-icon, image/svg+xml), or None."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    if raw[:4] == b"\x00\x00\x01\x00" and len(raw) > 6:  # an icon directory with at least one entry
        return "image/x-icon"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return "image/svg+xml" if _SVG_START.match(text) else None


def picture_data_url(raw: bytes, max_bytes: int) -> str:
    """`raw` as a data: URL after checking its size and that it is one of the pictures we take."""
    if not raw:
        raise PictureError("The file is empty.")
    if len(raw) > max_bytes:
        raise PictureError(f"The picture is larger than {max_bytes // 1024} KiB.")
    kind = picture_type(raw)
    if kind is None:
        raise PictureError("This is not a PNG, JPEG, WebP, SVG or ICO picture.")
    if kind == "image/svg+xml" and _SVG_ACTIVE.search(raw.decode("utf-8-sig")):
        raise PictureError("SVG pictures with scripts or event handlers are not taken.")
    return f"data:{kind};base64,{base64.b64encode(raw).decode('ascii')}"


def picture_bytes(data_url: str) -> tuple[str, bytes] | None:
    """(MIME type, bytes) of a data: URL made by picture_data_url, or None when it is not one."""
    header, _, payload = data_url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return None
    try:
        return header[len("data:") : -len(";base64")], base64.b64decode(payload, validate=True)
    except binascii.Error:
        return None
