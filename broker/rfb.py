"""A small RFB (VNC) client: readiness probe, VNC authentication, one raw screen grab.

Enough for the broker to know a desktop is up and for the image tool to prove a real
login works; not a viewer.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

GREETING_LENGTH = 12  # b"RFB 003.008\n"
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2
ENCODING_RAW = 0
# Advertised so the server sends the cursor separately instead of painting it into
# the framebuffer, where it would make a blank screen look drawn.
ENCODING_CURSOR = -239


class RFBError(Exception):
    """Any failure talking RFB."""


class RFBConnectionError(RFBError):
    """The server could not be reached, closed the connection, timed out or is not RFB."""


class AuthenticationFailed(RFBError):
    """The server refused the password."""


@dataclass(frozen=True)
class PixelFormat:
    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool


@dataclass(frozen=True)
class Framebuffer:
    width: int
    height: int
    bytes_per_pixel: int
    pixels: bytes

    def is_uniform(self) -> bool:
        """True when every pixel has the same value: nothing has been drawn."""
        first = self.pixels[: self.bytes_per_pixel]
        return self.pixels == first * (self.width * self.height)


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
                return _parse_greeting(_recv_exact(sock, GREETING_LENGTH))
        except (OSError, RFBConnectionError) as error:
            last_error = error
            time.sleep(min(interval, max(deadline - time.monotonic(), 0)))


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    """DES-encrypt the 16-byte challenge with the password as key, as VNC auth defines.

    VNC uses the first 8 password bytes, zero-padded, with each byte's bits reversed.
    Triple DES with the key repeated three times is plain DES.
    """
    key = password.encode("latin-1", errors="replace")[:8].ljust(8, b"\0")
    key = bytes(int(f"{byte:08b}"[::-1], 2) for byte in key)
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


class RFBClient:
    """One authenticated RFB session. Use as a context manager."""

    def __init__(self, host: str, port: int, password: str | None, timeout: float = 10.0) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise RFBConnectionError(f"cannot connect to {host}:{port}: {error}") from error
        try:
            self._handshake(password)
        except BaseException:
            self._sock.close()
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
        width, height, bpp, depth, big_endian, true_colour = struct.unpack(
            ">HHBBBB10x", self._recv(16)
        )
        self.name = self._recv_string()
        self.width, self.height = width, height
        self.pixel_format = PixelFormat(bpp, depth, bool(big_endian), bool(true_colour))
        encodings = (ENCODING_RAW, ENCODING_CURSOR)
        self._sock.sendall(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))

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
        """Request the whole screen in raw encoding and return it."""
        bytes_per_pixel = self.pixel_format.bits_per_pixel // 8
        row_length = self.width * bytes_per_pixel
        pixels = bytearray(row_length * self.height)
        self._sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, self.width, self.height))
        while True:
            (message_type,) = self._recv(1)
            if message_type == 0:  # FramebufferUpdate
                break
            self._skip_server_message(message_type)
        (rect_count,) = struct.unpack(">xH", self._recv(3))
        for _ in range(rect_count):
            x, y, w, h, encoding = struct.unpack(">HHHHi", self._recv(12))
            if encoding == ENCODING_CURSOR:
                self._recv(w * h * bytes_per_pixel + (w + 7) // 8 * h)
                continue
            if encoding != ENCODING_RAW:
                raise RFBError(f"server sent encoding {encoding} although only raw was asked")
            data = self._recv(w * h * bytes_per_pixel)
            for row in range(h):
                start = (y + row) * row_length + x * bytes_per_pixel
                pixels[start : start + w * bytes_per_pixel] = data[
                    row * w * bytes_per_pixel : (row + 1) * w * bytes_per_pixel
                ]
        return Framebuffer(self.width, self.height, bytes_per_pixel, bytes(pixels))

    def _skip_server_message(self, message_type: int) -> None:
        if message_type == 1:  # SetColourMapEntries
            _, count = struct.unpack(">xHH", self._recv(5))
            self._recv(6 * count)
        elif message_type == 2:  # Bell
            pass
        elif message_type == 3:  # ServerCutText
            (length,) = struct.unpack(">3xI", self._recv(7))
            self._recv(length)
        else:
            raise RFBError(f"unexpected server message type {message_type}")

    def _recv_string(self) -> str:
        (length,) = struct.unpack(">I", self._recv(4))
        return self._recv(length).decode("utf-8", errors="replace")

    def _recv(self, count: int) -> bytes:
        return _recv_exact(self._sock, count)


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    buffer = bytearray()
    try:
        while len(buffer) < count:
            chunk = sock.recv(min(count - len(buffer), 1 << 20))
            if not chunk:
                raise RFBConnectionError("server closed the connection")
            buffer += chunk
    except TimeoutError as error:
        raise RFBConnectionError("timed out waiting for the server") from error
    except OSError as error:
        raise RFBConnectionError(f"connection error: {error}") from error
    return bytes(buffer)


def _parse_greeting(greeting: bytes) -> str:
    if len(greeting) != GREETING_LENGTH or not greeting.startswith(b"RFB ") or greeting[-1:] != b"\n":
        raise RFBConnectionError(f"not an RFB server (greeting {greeting!r})")
    return greeting[4:11].decode("ascii")
