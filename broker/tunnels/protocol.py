"""The Guacamole protocol's framing: `LENGTH.VALUE,LENGTH.VALUE,...;`.

Lengths count Unicode code points, so everything here works on `str`. The relay cuts
guacd's stream at instruction boundaries found through the length prefixes (never by
searching for `;`, which may occur inside values), because guacamole-common-js needs
every WebSocket message to hold whole instructions.
"""

from __future__ import annotations

INTERNAL_OPCODE = ""  # reserved for the tunnel itself: the tunnel UUID, pings
MAX_ELEMENTS = 128


class ProtocolError(ValueError):
    """Bytes that are not Guacamole instructions."""


def encode(opcode: str, *args: object) -> str:
    return ",".join(f"{len(value)}.{value}" for value in (opcode, *map(str, args))) + ";"


def _instruction_end(text: str, start: int, max_length: int) -> int | None:
    """Index just past the instruction starting at `start`, or None if it is not complete yet."""
    pos = start
    for _ in range(MAX_ELEMENTS):
        dot = text.find(".", pos, pos + 12)
        if dot == -1:
            if len(text) - pos >= 12:
                raise ProtocolError("element length missing or too long")
            return None
        digits = text[pos:dot]
        if not (digits.isascii() and digits.isdigit()):  # isdigit() alone takes '²' and '٤' too
            raise ProtocolError(f"bad element length {digits[:12]!r}")
        end = dot + 1 + int(digits)
        if end - start > max_length:
            raise ProtocolError(f"instruction longer than {max_length} characters")
        if end >= len(text):
            return None
        terminator = text[end]
        if terminator == ";":
            return end + 1
        if terminator != ",":
            raise ProtocolError(f"unexpected {terminator!r} after an element")
        pos = end + 1
    raise ProtocolError(f"more than {MAX_ELEMENTS} elements in one instruction")


def split_complete(text: str, max_length: int) -> tuple[str, str]:
    """(the whole instructions at the front of `text`, the incomplete rest)."""
    pos = 0
    while pos < len(text):
        end = _instruction_end(text, pos, max_length)
        if end is None:
            break
        pos = end
    return text[:pos], text[pos:]


def parse(text: str, max_length: int) -> list[list[str]]:
    """Every instruction in `text` as [opcode, *args]; `text` must hold whole instructions."""
    instructions = []
    pos = 0
    while pos < len(text):
        end = _instruction_end(text, pos, max_length)
        if end is None:
            raise ProtocolError("incomplete instruction")
        elements, cursor = [], pos
        while cursor < end:
            dot = text.index(".", cursor)
            stop = dot + 1 + int(text[cursor:dot])
            elements.append(text[dot + 1 : stop])
            cursor = stop + 1
        instructions.append(elements)
        pos = end
    return instructions
