"""Opening a VNC connection through guacd (1.3 from Debian, or upstream 1.5/1.6).

pyguacamole carries the handshake's instructions; we drive the steps ourselves because
its `handshake()` cannot answer the protocol-version argument, which guacd ≥ 1.1 offers
first: left empty, guacd talks protocol 1.0 to the browser.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

from guacamole.client import GuacamoleClient
from guacamole.exceptions import InvalidInstruction
from guacamole.instruction import GuacamoleInstruction as Instruction

from broker import host_turns

# pyguacamole logs every instruction at DEBUG, the `connect` with the VNC password among them.
logging.getLogger("guacamole").setLevel(logging.WARNING)

# What the browser side speaks: guacamole-common-js 1.5.
CLIENT_PROTOCOL = (1, 5, 0)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
# What guacamole-common-js's RawAudioPlayer plays (Guacamole.AudioPlayer.getSupportedTypes()). Named
# without rate or channels: guacd (1.3 to 1.6) picks its encoder by exact name, then announces the
# stream with them (audio/L16;rate=44100,channels=2).
AUDIO_TYPES = ("audio/L8", "audio/L16")


class GuacdError(Exception):
    """guacd could not be reached or refused the connection; `status` is a Guacamole status code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class GuacdUnreachable(GuacdError):
    """guacd did not take the TCP connection (refused, timed out, no route): the instance is away."""


# Guacamole status codes the tunnel reports (guacamole-common-js Guacamole.Status.Code).
UPSTREAM_TIMEOUT = 0x0202
UPSTREAM_ERROR = 0x0203
UPSTREAM_NOT_FOUND = 0x0207
RESOURCE_NOT_FOUND = 0x0204
CLIENT_UNAUTHORIZED = 0x0301
CLIENT_FORBIDDEN = 0x0303
CLIENT_BAD_REQUEST = 0x0300
CLIENT_TIMEOUT = 0x0308
SERVER_ERROR = 0x0200


@dataclass(frozen=True)
class VncTarget:
    host: str
    port: int
    password: str
    # The desktop's PulseAudio server for guacd to record ("tcp:ADDRESS:4713"); empty: no sound.
    sound_server: str = ""


@dataclass(frozen=True)
class Screen:
    width: int = 1024
    height: int = 768
    dpi: int = 96
    timezone: str = ""


@dataclass
class GuacdConnection:
    """A handshaken connection: the socket, what guacd sent past `ready`, and the connection id."""

    sock: socket.socket
    leftover: bytes
    connection_id: str
    protocol_version: str
    # Whether guacd resizes the VNC desktop to the browser's `size` itself: guacd 1.6 does
    # (GUACAMOLE-1196) and offers the argument that turns it off; 1.3 to 1.5 offer none. The
    # protocol version cannot tell: 1.5 and 1.6 both announce VERSION_1_5_0.
    resizes_desktop: bool = False
    # Where the time to open it went: waiting for the handshake turn, then the handshake itself.
    turn_wait_seconds: float = 0.0
    handshake_seconds: float = 0.0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _version(name: str) -> tuple[int, ...] | None:
    """'VERSION_1_3_0' -> (1, 3, 0)."""
    if not name.startswith("VERSION_"):
        return None
    try:
        return tuple(int(part) for part in name.removeprefix("VERSION_").split("_"))
    except ValueError:
        return None


def agreed_version(offered: str) -> tuple[int, ...]:
    """The protocol both sides speak: the browser's, capped at what guacd offered (1.0.0 when it
    offered none, as guacd before 1.1 and joins of other connections do)."""
    return min(_version(offered) or (1, 0, 0), CLIENT_PROTOCOL)


def answer_version(offered: str) -> str:
    """The version to answer: the browser's, capped at what guacd offered."""
    return "VERSION_" + "_".join(map(str, agreed_version(offered)))


# What each protocol version adds to the handshake (Guacamole manual, "The Guacamole protocol"):
# 1.1.0 instructions in any order and `timezone`; 1.3.0 `required` (guacd asks for a missing
# argument such as a password after `ready`; the relay answers it, relay.py); 1.5.0 `name`, the
# person's name (guacd 1.5+ tells the connection's owner who joins).
TIMEZONE_SINCE = (1, 1, 0)
NAME_SINCE = (1, 5, 0)


def _expect(client: GuacamoleClient, opcode: str) -> Instruction:
    raw = client.receive()  # None when guacd hung up
    if raw is None:
        raise GuacdError("guacd closed the connection during the handshake", UPSTREAM_ERROR)
    try:
        instruction = Instruction.load(raw)
    except InvalidInstruction:
        raise GuacdError(f"guacd sent a malformed instruction instead of {opcode!r}", UPSTREAM_ERROR) from None
    if instruction.opcode == "error":
        message, status = (instruction.args + ["", ""])[:2]
        raise GuacdError(f"guacd: {message}", int(status) if status.isdigit() else UPSTREAM_ERROR)
    if instruction.opcode != opcode:
        raise GuacdError(f"guacd sent {instruction.opcode!r} instead of {opcode!r}", UPSTREAM_ERROR)
    return instruction


def _close(client: GuacamoleClient) -> None:
    # GuacamoleClient.close() reconnects when the socket is already gone; close it directly.
    if client._client is not None:
        client._client.close()


# guacd 1.3 (Debian's) mishandles handshakes that overlap while other connections come and go: with
# 20–50 opened at once, 0.5–4 % hung until our timeout or were even answered with another
# connection's stream (`sync` where `args` belongs); taking turns, 0 of 600 (see guacd/README.md).
# So the handshakes to one guacd take turns on this host (broker.host_turns). A turn lasts one
# handshake (tens of milliseconds; at most `timeout`).
TURN_WAIT_SECONDS = 20.0


@contextlib.contextmanager
def handshake_turn(guacd_host: str, guacd_port: int) -> Iterator[None]:
    with exclusive(f"guacd-{guacd_host}-{guacd_port}"):
        yield


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """One at a time on this host for `name`; GuacdError after TURN_WAIT_SECONDS."""
    try:
        with host_turns.turn(name, TURN_WAIT_SECONDS):
            yield
    except host_turns.Busy:
        raise GuacdError("guacd is busy with other connections", UPSTREAM_TIMEOUT) from None


def open_connection(
    guacd_host: str,
    guacd_port: int,
    target: VncTarget,
    screen: Screen,
    *,
    read_only: bool = False,
    join: str | None = None,
    name: str = "",
    recording: str | None = None,
    timeout: float = 10.0,
) -> GuacdConnection:
    """Handshake a new VNC connection, or join an existing one (`join` = its connection id), in
    turn with the other handshakes to this guacd. `name`: the person's, for guacd 1.5+;
    `recording`: the file name to record it under (None: not recorded)."""
    asked = time.monotonic()
    with handshake_turn(guacd_host, guacd_port):
        turn_wait = time.monotonic() - asked
        connection = handshake(guacd_host, guacd_port, target, screen, read_only, join, name, recording, timeout)
    connection.turn_wait_seconds = turn_wait
    return connection


# Every parameter guacd gets comes from here; whatever else it offers (wol-*, reverse-connect,
# dest-host, sftp-*, recording-include-keys, ...) is sent empty, i.e. off.
VNC_PARAMETERS = (
    "hostname",
    "port",
    "password",
    "read-only",
    "enable-audio",
    "audio-servername",
    "recording-path",
    "recording-name",
    "create-recording-path",
)
RESIZE_ARGUMENT = "disable-display-resize"  # left empty: guacd ≥ 1.6 resizes the desktop itself
# Where guacd writes recordings: the volume the broker reads at DESKBROKER_RECORDING_DIR. Keys are
# never recorded (recording-include-keys stays empty): they would hold every password typed.
RECORDING_PATH = "/recordings"


def connect_values(target: VncTarget, read_only: bool, recording: str | None = None) -> dict[str, str]:
    """`recording`: the file name guacd records this connection under (the broker's choice), or None."""
    values = {
        "hostname": target.host,
        "port": str(target.port),
        "password": target.password,
        "read-only": "true" if read_only else "",
        "enable-audio": "true" if target.sound_server else "",
        "audio-servername": target.sound_server,
        "recording-path": RECORDING_PATH if recording else "",
        "recording-name": recording or "",
        "create-recording-path": "true" if recording else "",
    }
    assert set(values) <= set(VNC_PARAMETERS)
    return values


# guacd answers a TCP connect within milliseconds on its network: longer, it is away (stopped, its
# host gone), and the tunnel tries another instance of the pool (guacd_pool.py).
CONNECT_TIMEOUT = 2.0


def handshake(
    guacd_host: str,
    guacd_port: int,
    target: VncTarget,
    screen: Screen,
    read_only: bool,
    join: str | None,
    name: str,
    recording: str | None,
    timeout: float,
) -> GuacdConnection:
    """One handshake, from `select` to `ready` (in its turn: handshake_turn)."""
    started = time.monotonic()
    client = GuacamoleClient(guacd_host, guacd_port, timeout=CONNECT_TIMEOUT)
    try:
        try:
            client.client.settimeout(timeout)  # connects
        except OSError as exc:
            raise GuacdUnreachable(
                f"guacd at {guacd_host}:{guacd_port} is unreachable ({exc.strerror or exc})", UPSTREAM_NOT_FOUND
            ) from None
        client.send_instruction(Instruction("select", join or "vnc"))
        args = _expect(client, "args").args
        values = connect_values(target, read_only, recording)
        agreed = agreed_version(args[0] if args else "")
        version = answer_version(args[0]) if args and _version(args[0]) else ""
        # Protocol 1.0 wants exactly these four, in this order, before `connect`.
        client.send_instruction(Instruction("size", screen.width, screen.height, screen.dpi))
        client.send_instruction(Instruction("audio", *(AUDIO_TYPES if target.sound_server else ())))
        client.send_instruction(Instruction("video"))
        client.send_instruction(Instruction("image", *IMAGE_TYPES))
        if screen.timezone and agreed >= TIMEZONE_SINCE:
            client.send_instruction(Instruction("timezone", screen.timezone))
        if name and agreed >= NAME_SINCE:
            client.send_instruction(Instruction("name", name))
        client.send_instruction(
            Instruction(
                "connect", *[version if i == 0 and version else values.get(arg, "") for i, arg in enumerate(args)]
            )
        )
        ready = _expect(client, "ready")
        # Whatever guacd sent after `ready` is still in pyguacamole's buffer: the relay sends it first.
        connection = GuacdConnection(
            client.client,
            bytes(client._buffer),
            ready.args[0] if ready.args else "",
            version or "VERSION_1_0_0",
            RESIZE_ARGUMENT in args,
            handshake_seconds=time.monotonic() - started,
        )
        connection.sock.settimeout(None)
        return connection
    except GuacdError:
        _close(client)
        raise
    except OSError as exc:
        _close(client)
        raise GuacdError(f"guacd connection failed ({exc.strerror or exc})", UPSTREAM_NOT_FOUND) from None
