"""A small RFB (VNC) client: readiness probe, VNC authentication, raw screen grabs and
client-side resize.

Enough for the broker to know a desktop is up and for the image tool to prove a real
login works; not a viewer.

The server is not trusted: an image maintainer can ship any VNC server. Every length it sends is
bounded (screen size, texts, rectangles, clipboard), pixels are read and handed on in bands of
rows (a thumbnail never holds the whole screen), and each operation has one deadline however
slowly the bytes come.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

GREETING_LENGTH = 12  # b"RFB 003.008\n"
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2
BYTES_PER_PIXEL = 4
# 32 bits per pixel, depth 24, little-endian true colour, 8 bits each, red at bit 16
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
ENCODING_RAW = 0
ENCODING_EXTENDED_DESKTOP_SIZE = -308
RESIZE_BY_THIS_CLIENT = 1
RESIZE_ERRORS = {1: "resizing is prohibited", 2: "out of resources", 3: "invalid screen layout"}
MAX_SCREEN = 8192  # pixels each way (a full copy is then at most 256 MiB); real desktops are far smaller
MAX_TEXT = 4096  # bytes of a desktop name or a refusal's reason
MAX_CUT_TEXT = 16 << 20  # clipboard text the server may send: read in pieces and dropped
BAND_BYTES = 1 << 20  # raw pixels are read and handed on in bands of rows of about this size


class ByteStream(Protocol):
    """What a session reads and writes: a socket, or e.g. a WebSocket through websockify."""

    def recv(self, size: int, /) -> bytes: ...
    def sendall(self, data: bytes, /) -> None: ...
    def close(self) -> None: ...


class RFBError(Exception):
    """Any failure talking RFB."""


class RFBConnectionError(RFBError):
    """The server could not be reached, closed the connection, timed out or is not RFB."""


class AuthenticationFailed(RFBError):
    """The server refused the password."""


class RFBLimitError(RFBError):
    """The server announced or sent more than any desktop needs (screen size, text, rectangle)."""


class Screen(Protocol):
    """Where a screen grab's pixels go: 4 bytes each (blue, green, red, unused), row by row."""

    row_multiple: int  # bands of rows start at screen rows that are multiples of this

    def resize(self, width: int, height: int, /) -> None: ...
    def paint(self, x: int, y: int, width: int, height: int, rows: bytes, /) -> None: ...


class ScreenCopy:
    """The whole screen in memory (what `framebuffer` returns)."""

    row_multiple = 1

    def __init__(self, width: int, height: int) -> None:
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(width * height * BYTES_PER_PIXEL)

    def paint(self, x: int, y: int, width: int, height: int, rows: bytes) -> None:
        row_length = width * BYTES_PER_PIXEL
        for row in range(height):
            start = ((y + row) * self.width + x) * BYTES_PER_PIXEL
            self.pixels[start : start + row_length] = rows[row * row_length : (row + 1) * row_length]


class _Discard:
    """A Screen that keeps nothing."""

    row_multiple = 1

    def resize(self, width: int, height: int) -> None:
        pass

    def paint(self, x: int, y: int, width: int, height: int, rows: bytes) -> None:
        pass


_NO_SCREEN = _Discard()


@dataclass(frozen=True)
class Framebuffer:
    """The screen, row by row; each pixel is 4 bytes: blue, green, red, unused."""

    width: int
    height: int
    pixels: bytes

    def drawn_fraction(self) -> float:
        """Share of pixels that differ from the most common colour (0.0: a blank screen).

        The server paints the mouse pointer into the picture, so a blank screen is not
        quite uniform; compare this against a threshold rather than zero.
        """
        pixels = memoryview(self.pixels).cast("I")
        [(_, background)] = Counter(pixels).most_common(1)
        return 1 - background / len(pixels)


def wait_for_greeting(host: str, port: int, timeout: float, interval: float = 0.02) -> str:
    """Poll until the server sends its RFB greeting; return the version, e.g. "003.008".

    Raises RFBConnectionError when no greeting arrived within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RFBConnectionError(
                f"no RFB greeting from {host}:{port} within {timeout:g} s"
                + (f" (last error: {last_error})" if last_error else "")
            )
        try:
            with socket.create_connection((host, port), timeout=min(remaining, 2.0)) as sock:
                return _parse_greeting(_recv_exact(sock, GREETING_LENGTH, deadline, timeout))
        except (OSError, RFBConnectionError) as error:
            last_error = error
            time.sleep(min(interval, max(deadline - time.monotonic(), 0)))


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    """DES-encrypt the 16-byte challenge with the password as key, as VNC auth defines.

    VNC uses the first 8 bytes of the (UTF-8) password, zero-padded, each byte's bits
    reversed.
    Triple DES with the key repeated three times is plain DES.
    """
    key = password.encode()[:8].ljust(8, b"\0")
    key = bytes(int(f"{byte:08b}"[::-1], 2) for byte in key)
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


class RFBClient:
    """One authenticated RFB session. Use as a context manager.

    `timeout`: seconds the login (connecting included) may take, and each screen grab after it.
    """

    def __init__(self, host: str, port: int, password: str | None, timeout: float = 10.0) -> None:
        self._begin(timeout)
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise RFBConnectionError(f"cannot connect to {host}:{port}: {error}") from error
        self._start(sock, password)

    @classmethod
    def over(cls, stream: ByteStream, password: str | None, timeout: float = 10.0) -> RFBClient:
        """A session over a stream that is already connected to the server."""
        session = cls.__new__(cls)
        session._begin(timeout)
        session._start(stream, password)
        return session

    def _begin(self, timeout: float) -> None:
        """Start an operation: it must be over within `timeout` seconds."""
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout

    def _start(self, stream: ByteStream, password: str | None) -> None:
        self._sock = stream
        self._copy: ScreenCopy | None = None
        try:
            self._handshake(password)
        except BaseException:
            stream.close()
            raise

    def __enter__(self) -> RFBClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _handshake(self, password: str | None) -> None:
        version = _parse_greeting(self._recv(GREETING_LENGTH))
        minor = 8 if version >= "003.008" else 7 if version >= "003.007" else 3
        self._sock.sendall(f"RFB 003.00{minor}\n".encode())
        security = self._negotiate_security(minor, password)
        if security == SECURITY_VNC_AUTH:
            if password is None:
                raise AuthenticationFailed("server requires a VNC password")
            self._sock.sendall(vnc_auth_response(password, self._recv(16)))
        if security == SECURITY_VNC_AUTH or minor == 8:
            (result,) = struct.unpack(">I", self._recv(4))
            if result != 0:
                reason = self._recv_string() if minor == 8 else "authentication failed"
                raise AuthenticationFailed(f"server refused the login: {reason}")
        self._sock.sendall(b"\x01")  # ClientInit: share the desktop with other viewers
        self.width, self.height = _screen_size(*struct.unpack(">HH16x", self._recv(20)))  # server's pixel format
        self.name = self._recv_string()
        self._screen_id: int | None = None
        self._resize_status: int | None = None
        encodings = (ENCODING_RAW, ENCODING_EXTENDED_DESKTOP_SIZE)
        self._sock.sendall(struct.pack(">B3x", 0) + PIXEL_FORMAT)  # SetPixelFormat
        self._sock.sendall(struct.pack(">BxH2i", 2, len(encodings), *encodings))  # SetEncodings

    def _negotiate_security(self, minor: int, password: str | None) -> int:
        if minor == 3:
            (offered,) = struct.unpack(">I", self._recv(4))
            if offered == 0:
                raise RFBConnectionError(f"server refused the connection: {self._recv_string()}")
            if offered not in (SECURITY_NONE, SECURITY_VNC_AUTH):
                raise RFBError(f"server wants unsupported security type {offered}")
            return offered
        (count,) = self._recv(1)
        if count == 0:
            raise RFBConnectionError(f"server refused the connection: {self._recv_string()}")
        offered_types = set(self._recv(count))
        wanted = SECURITY_NONE if password is None else SECURITY_VNC_AUTH
        if wanted not in offered_types:
            raise RFBError(f"server offers security types {sorted(offered_types)}, not {wanted}")
        self._sock.sendall(bytes([wanted]))
        return wanted

    def framebuffer(self) -> Framebuffer:
        """Request the whole screen in raw encoding and return it (kept, so later calls get what changed)."""
        if self._copy is None or (self._copy.width, self._copy.height) != (self.width, self.height):
            self._copy = ScreenCopy(self.width, self.height)
        self.read_screen(self._copy)
        return Framebuffer(self._copy.width, self._copy.height, bytes(self._copy.pixels))

    def read_screen(self, screen: Screen, within: float | None = None) -> None:
        """Request the whole screen in raw encoding and paint it on `screen`, band by band, within `within`
        seconds (the session's timeout when None)."""
        self._deadline = time.monotonic() + (self.timeout if within is None else within)
        self._request_update(incremental=False)
        # TigerVNC answers a full request with the screen layout in an update of its own;
        # the pixels then follow an incremental request.
        while not self._read_update(screen):
            self._request_update(incremental=True)

    def follow(self, seconds: float) -> int:
        """Keep asking for what changed, as a viewer does, for `seconds` (pixels read and dropped); the
        updates that carried pixels."""
        end = time.monotonic() + seconds
        self._deadline = end + self.timeout
        self._request_update(incremental=False)
        painted = 0
        while time.monotonic() < end:
            painted += self._read_update(_NO_SCREEN)
            self._request_update(incremental=True)
        return painted

    def _request_update(self, incremental: bool, width: int | None = None, height: int | None = None) -> None:
        self._sock.sendall(struct.pack(">BBHHHH", 3, incremental, 0, 0, width or self.width, height or self.height))

    def _read_corner(self) -> None:
        """One update for the top left pixel only: enough for the layout and resize answers, without
        moving the whole screen (a raw 4K screen is 33 MB)."""
        self._request_update(incremental=False, width=1, height=1)
        self._read_update(_NO_SCREEN)

    def _read_update(self, screen: Screen) -> bool:
        """Read one FramebufferUpdate onto `screen`; True if it carried pixels."""
        while True:
            (message_type,) = self._recv(1)
            if message_type == 0:
                break
            self._skip_server_message(message_type)
        (rect_count,) = struct.unpack(">xH", self._recv(3))
        painted = False
        for _ in range(rect_count):
            x, y, w, h, encoding = struct.unpack(">HHHHi", self._recv(12))
            if encoding == ENCODING_EXTENDED_DESKTOP_SIZE:
                self._read_desktop_size(screen, reason=x, status=y, width=w, height=h)
            elif encoding == ENCODING_RAW:
                if x + w > self.width or y + h > self.height:
                    raise RFBLimitError(
                        f"server sent a rectangle {w}x{h} at {x},{y}, outside its {self.width}x{self.height} screen"
                    )
                self._read_raw(screen, x, y, w, h)
                painted = True
            else:
                raise RFBError(f"server sent encoding {encoding}, which was not asked for")
        return painted

    def _read_raw(self, screen: Screen, x: int, y: int, w: int, h: int) -> None:
        """Hand the rectangle's rows on in bands of about BAND_BYTES, starting at multiples of row_multiple."""
        if not w or not h:
            return
        step = screen.row_multiple
        rows = max(step, BAND_BYTES // (w * BYTES_PER_PIXEL) // step * step)
        top, bottom = y, y + h
        while top < bottom:
            end = min(bottom, (top // step + 1) * step if top % step else top + rows)
            screen.paint(x, top, w, end - top, self._recv((end - top) * w * BYTES_PER_PIXEL))
            top = end

    def press(self, keysym: int) -> None:
        """Type one key, down and up (KeyEvent), as a viewer does."""
        self._sock.sendall(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0, keysym))

    def set_desktop_size(self, width: int, height: int, attempts: int = 5) -> None:
        """Ask the server to resize the desktop, as browser clients do; RFBError if refused."""
        self._deadline = time.monotonic() + self.timeout
        if self._screen_id is None:
            self._read_corner()  # the first update reports the screen layout
        if self._screen_id is None:
            raise RFBError("server does not support resizing (no ExtendedDesktopSize)")
        self._resize_status = None
        screen = struct.pack(">IHHHHI", self._screen_id, 0, 0, width, height, 0)
        self._sock.sendall(struct.pack(">BxHHBx", 251, width, height, 1) + screen)  # SetDesktopSize
        for _ in range(attempts):  # the answer comes with one of the next updates
            self._read_corner()
            if self._resize_status is not None:
                break
        if self._resize_status != 0:
            reason = RESIZE_ERRORS.get(self._resize_status, "no answer")
            raise RFBError(f"server refused resizing to {width}x{height}: {reason}")

    def _read_desktop_size(self, screen: Screen, reason: int, status: int, width: int, height: int) -> None:
        """Take in an ExtendedDesktopSize report: screen id, resize answer, new size."""
        (screen_count,) = struct.unpack(">B3x", self._recv(4))
        screens = self._recv(16 * screen_count)
        if screen_count:
            (self._screen_id,) = struct.unpack(">I", screens[:4])
        if reason == RESIZE_BY_THIS_CLIENT:
            self._resize_status = status
        if status == 0 and (width, height) != (self.width, self.height):
            self.width, self.height = _screen_size(width, height)
            screen.resize(width, height)

    def _skip_server_message(self, message_type: int) -> None:
        if message_type == 1:  # SetColourMapEntries
            _, count = struct.unpack(">xHH", self._recv(5))
            self._recv(6 * count)
        elif message_type == 2:  # Bell
            pass
        elif message_type == 3:  # ServerCutText: the desktop's clipboard, which a grab does not need
            (length,) = struct.unpack(">3xI", self._recv(7))
            if length > MAX_CUT_TEXT:
                raise RFBLimitError(f"server sent clipboard text of {length} bytes (at most {MAX_CUT_TEXT})")
            while length:
                length -= len(self._recv(min(length, 1 << 16)))
        else:
            raise RFBError(f"unexpected server message type {message_type}")

    def _recv_string(self) -> str:
        (length,) = struct.unpack(">I", self._recv(4))
        if length > MAX_TEXT:
            raise RFBLimitError(f"server sent a text (name or reason) of {length} bytes (at most {MAX_TEXT})")
        return self._recv(length).decode("utf-8", errors="replace")

    def _recv(self, count: int) -> bytes:
        return _recv_exact(self._sock, count, self._deadline, self.timeout)


def _screen_size(width: int, height: int) -> tuple[int, int]:
    if not 0 < width <= MAX_SCREEN or not 0 < height <= MAX_SCREEN:
        raise RFBLimitError(f"server announced a {width}x{height} screen (at most {MAX_SCREEN}x{MAX_SCREEN})")
    return width, height


def _recv_exact(sock: ByteStream, count: int, deadline: float | None = None, timeout: float = 0) -> bytes:
    """`count` bytes; with a deadline, however slowly they come, RFBConnectionError once it has passed."""
    buffer = bytearray()
    try:
        while len(buffer) < count:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if isinstance(sock, socket.socket):
                    sock.settimeout(remaining)
            chunk = sock.recv(min(count - len(buffer), 1 << 16))
            if not chunk:
                raise RFBConnectionError("server closed the connection")
            buffer += chunk
    except TimeoutError as error:
        within = f" within {timeout:g} s" if timeout else ""
        raise RFBConnectionError(f"timed out: the server did not answer{within}") from error
    except OSError as error:
        raise RFBConnectionError(f"connection error: {error}") from error
    return bytes(buffer)


def _parse_greeting(greeting: bytes) -> str:
    if not re.fullmatch(rb"RFB \d{3}\.\d{3}\n", greeting):
        raise RFBConnectionError(f"not an RFB server (greeting {greeting!r})")
    return greeting[4:11].decode("ascii")
