"""guacd gets only the parameters of the broker's own allowlist, whatever it offers (#12).

A stand-in guacd that offers every dangerous VNC parameter there is (recordings, Wake-on-LAN,
reverse connections, SFTP) and reports what the broker's `connect` filled in."""

from __future__ import annotations

import socket
import threading

from broker.tunnels.guacd import AUDIO_TYPES, VNC_PARAMETERS, Screen, VncTarget, open_connection
from broker.tunnels.protocol import encode, parse, split_complete

OFFERED = (
    "VERSION_1_5_0",
    "hostname",
    "port",
    "read-only",
    "encodings",
    "password",
    "swap-red-blue",
    "recording-path",
    "recording-name",
    "create-recording-path",
    "wol-send-packet",
    "wol-mac-addr",
    "reverse-connect",
    "listen-timeout",
    "dest-host",
    "dest-port",
    "enable-sftp",
    "sftp-hostname",
    "sftp-private-key",
    "enable-audio",
    "audio-servername",
)


def serve_once(server: socket.socket, seen: dict) -> None:
    conn, _ = server.accept()
    with conn:
        buffered = ""
        while "connect" not in seen:
            complete, buffered = split_complete(buffered + conn.recv(65536).decode(), 1 << 20)
            for opcode, *args in parse(complete, 1 << 20):
                if opcode == "select":
                    conn.sendall(encode("args", *OFFERED).encode())
                elif opcode == "audio":
                    seen["audio"] = args
                elif opcode == "connect":
                    seen["connect"] = dict(zip(OFFERED, args))
        conn.sendall(encode("ready", "$id").encode())


def handshake(target: VncTarget, read_only: bool) -> dict:
    """What the stand-in guacd saw of a handshake for `target`: `connect` by name, `audio`."""
    server = socket.create_server(("127.0.0.1", 0))
    seen: dict = {}
    thread = threading.Thread(target=serve_once, args=(server, seen), daemon=True)
    thread.start()
    connection = open_connection("127.0.0.1", server.getsockname()[1], target, Screen(), read_only=read_only)
    connection.close()
    thread.join(5)
    server.close()
    return seen


def test_only_allowlisted_parameters_reach_guacd():
    seen = handshake(VncTarget("10.0.0.5", 5901, "secret12"), read_only=True)
    assert seen["audio"] == []  # no sound for this tunnel: guacd opens no audio stream
    filled = {name: value for name, value in seen["connect"].items() if value}
    assert filled == {
        "VERSION_1_5_0": "VERSION_1_5_0",
        "hostname": "10.0.0.5",
        "port": "5901",
        "read-only": "true",
        "password": "secret12",
    }
    assert set(filled) - {"VERSION_1_5_0"} <= set(VNC_PARAMETERS)


def test_a_tunnel_with_sound_asks_guacd_to_record_the_desktops_sound_server():
    """Sound is on: guacd records the desktop's PulseAudio and sends raw PCM, which the browser plays."""
    seen = handshake(VncTarget("10.0.0.5", 5901, "secret12", "tcp:10.0.0.5:4713"), read_only=False)
    assert seen["audio"] == list(AUDIO_TYPES) == ["audio/L8", "audio/L16"]  # exact names: guacd strcmp()s them
    assert seen["connect"]["enable-audio"] == "true"
    assert seen["connect"]["audio-servername"] == "tcp:10.0.0.5:4713"
