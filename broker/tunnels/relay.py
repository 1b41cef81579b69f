"""Relaying one Guacamole connection between the browser's WebSocket and guacd, in greenlets.

Memory stays bounded without queues: each direction reads a bounded chunk and writes it
before reading more, so a slow browser slows guacd's reads instead of piling up data.
"""

from __future__ import annotations

import base64
import codecs
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import gevent
import gevent.lock

from broker import metrics
from broker.tunnels.ending import REASONS
from broker.tunnels.guacd import CLIENT_BAD_REQUEST, UPSTREAM_TIMEOUT, GuacdConnection
from broker.tunnels.protocol import INTERNAL_OPCODE, ProtocolError, encode, parse, split_complete

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
GUACD_MAX_INSTRUCTION = 1024 * 1024  # guacd's own are ≤ 8 KiB; this only stops a runaway stream
BROWSER_MAX_INSTRUCTION = 8192  # as guacamole-common's parser allows
KEEPALIVE_SECONDS = 5.0  # the browser gives up after 15 s of silence
# guacd sends a sync every second even for an idle desktop: this long without a word, its side
# of the connection hung (a guacd child stuck at its start, seen with 100 opened at once). The
# viewer is told (514, upstream timeout) and reconnects, instead of waiting on nops for ever.
GUACD_SILENCE_SECONDS = 15.0
GUACD_SILENT_MESSAGE = "The desktop service (guacd) stopped answering."
BROWSER_SILENCE_SECONDS = 30.0  # guacamole-common-js pings every 0.5 s while connected
NOP = encode("nop")
# How often a tunnel asks whether its access ended (an admin's kill, a sign-out, ...: ending.py). With
# the kill watch's answers at most 0.5 s old, a tunnel ends within about a second, in any broker process.
KILL_CHECK_SECONDS = 0.5
SESSION_CLOSED = 0x020B  # Guacamole's SESSION_CLOSED (523); 0x0209 is SESSION_CONFLICT

# What a view-only watcher may not send: input, streams into the desktop, resizing it.
CONTROL_OPCODES = frozenset(
    {"key", "mouse", "touch", "clipboard", "file", "pipe", "blob", "end", "argv", "size", "audio"}
)
ACTIVITY_OPCODES = frozenset({"key", "mouse", "touch"})
# What a person whose screens a teacher locked may not send: the same, but their window may still resize.
LOCKED_OPCODES = CONTROL_OPCODES - {"size"}
# guacd ≥ 1.3 asks for an argument it lacks (a password) with `required`; the browser cannot
# answer it (it never has the password), the broker can. Searched for in guacd's stream as text,
# which base64 blobs cannot contain; only a chunk that has it is parsed.
REQUIRED_MARK = encode("required")[:-1] + ","
ERROR_MARK = encode("error")[:-1] + ","  # guacd's own `error`: its status is counted (metrics)
TO_BROWSER, FROM_BROWSER = metrics.TUNNEL_BYTES.labels("to_browser"), metrics.TUNNEL_BYTES.labels("from_browser")
# guacd broadcasts the owner's sound to everyone on the connection, watchers too: their tunnels drop
# it (service.hears_sound). Found like `required`; once a sound stream is open, every chunk is parsed.
AUDIO_MARK = encode("audio")[:-1] + ","
SOUND_OPCODES = frozenset({"blob", "end"})
ARGV_STREAM = 63  # guacd's last stream index (64 per user): clear of the browser's, which count up from 0


class WebSocket(Protocol):
    def send(self, data: str) -> None: ...
    def receive(self, timeout: float | None = None) -> str | bytes | None: ...
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


@dataclass
class RelayResult:
    bytes_to_browser: int = 0
    bytes_from_browser: int = 0
    end_reason: str = ""
    status: int | None = None  # the Guacamole status of the last `error` the browser was sent, if any


class Relay:
    def __init__(
        self,
        ws: WebSocket,
        guacd: GuacdConnection,
        tunnel_uuid: str,
        *,
        view_only: bool,
        resizes: bool = True,
        on_activity: Callable[[], None] = lambda: None,
        kill_requested: Callable[[], str | None] | None = None,
        on_size: Callable[[list[str]], None] | None = None,
        credentials: dict[str, str] | None = None,
        input_locked: Callable[[], bool] = lambda: False,
    ):
        self.ws, self.guacd, self.tunnel_uuid = ws, guacd, tunnel_uuid
        self.view_only, self.on_activity = view_only, on_activity
        self.resizes = resizes  # False: the browser's `size` never reaches guacd (a helper's window)
        self.on_size = on_size  # the browser's `size` arguments, as they pass (a control tunnel's only)
        self.credentials = credentials or {}  # what guacd's `required` gets (the owner's tunnel only)
        self.guacd_writes = gevent.lock.Semaphore()  # browser input and answers to `required`
        self.kill_requested = kill_requested  # returns why access ended (ending.REASONS), or None
        self.killed: str | None = None
        self.sound_streams: set[str] = set()  # a watcher's: guacd's sound streams, dropped
        self.input_locked = input_locked  # a teacher locked the screens: input is dropped (broker.classroom)
        self._keys_down: set[str] = set()  # released in the desktop when a lock starts, so none sticks
        self._mouse_down: list[str] | None = None
        self.result = RelayResult()
        self._counted = (0, 0)  # the bytes each way already added to the metrics

    def run(self) -> RelayResult:
        """Relay until either side ends (or an admin's kill), then stop the rest; always closes both ends.
        The browser has had the tunnel's uuid (TunnelSession.serve)."""
        tasks = [gevent.spawn(self._guacd_to_browser), gevent.spawn(self._browser_to_guacd)]
        if self.kill_requested is not None:
            tasks.append(gevent.spawn(self._watch_for_kill))
        try:
            gevent.wait(tasks, count=1)
        finally:
            gevent.killall(tasks)
            self._count_bytes()
            self.guacd.close()
            if self.killed:  # both directions are stopped: nothing else writes to the browser now
                self._tell_browser_killed()
            self._close_browser()
        return self.result

    def _watch_for_kill(self) -> None:
        """Off the hot path: ask twice a second whether this connection's access ended."""
        while True:
            gevent.sleep(KILL_CHECK_SECONDS)
            self._count_bytes()
            try:
                reason = self.kill_requested()
            except Exception:
                log.warning("could not check for a kill of tunnel %s", self.tunnel_uuid, exc_info=True)
                continue
            if reason:
                self.killed = reason
                self._end(REASONS[reason].logged)
                return

    def _count_bytes(self) -> None:
        """The bytes relayed since the last count, into the metrics: twice a second and at the end, not
        per message (each count writes the worker's metrics file)."""
        to_browser, from_browser = self.result.bytes_to_browser, self.result.bytes_from_browser
        TO_BROWSER.inc(to_browser - self._counted[0])
        FROM_BROWSER.inc(from_browser - self._counted[1])
        self._counted = (to_browser, from_browser)

    def _tell_browser_killed(self) -> None:
        self.result.status = SESSION_CLOSED
        try:
            self.ws.send(encode("error", REASONS[self.killed].message, SESSION_CLOSED))
        except Exception:
            pass

    def _end(self, reason: str) -> None:
        self.result.end_reason = self.result.end_reason or reason

    def _guacd_to_browser(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        sock = self.guacd.sock
        sock.settimeout(KEEPALIVE_SECONDS)
        pending, data = "", self.guacd.leftover
        heard_at = time.monotonic()
        try:
            while True:
                if data:
                    heard_at = time.monotonic()
                    complete, pending = split_complete(pending + decoder.decode(data), GUACD_MAX_INSTRUCTION)
                    if REQUIRED_MARK in complete:
                        complete = self._answer_required(complete)
                    if self.view_only and (self.sound_streams or AUDIO_MARK in complete):
                        complete = self._without_sound(complete)
                    if ERROR_MARK in complete:
                        self._note_error(complete)
                    if complete:
                        self.ws.send(complete)
                        self.result.bytes_to_browser += len(complete)
                try:
                    data = sock.recv(READ_CHUNK)
                except TimeoutError:
                    if time.monotonic() - heard_at >= GUACD_SILENCE_SECONDS:
                        self.ws.send(encode("error", GUACD_SILENT_MESSAGE, UPSTREAM_TIMEOUT))
                        self.result.status = UPSTREAM_TIMEOUT
                        self._end("guacd silent")
                        break
                    self.ws.send(NOP)
                    data = b""
                    continue
                if not data:
                    self._end("guacd closed the connection")
                    break
        except (OSError, ProtocolError, UnicodeDecodeError) as exc:
            self._end(f"guacd side: {type(exc).__name__}")
        except Exception as exc:
            self._end(f"browser gone: {type(exc).__name__}")

    def _browser_to_guacd(self) -> None:
        try:
            self._forward_browser_input()
        except Exception as exc:
            self._end(f"browser side: {type(exc).__name__}")

    def _forward_browser_input(self) -> None:
        sock = self.guacd.sock
        while True:
            message = self.ws.receive(timeout=BROWSER_SILENCE_SECONDS)
            if message is None:
                self._end("browser silent")
                break
            self.result.bytes_from_browser += len(message)
            try:
                if isinstance(message, bytes):
                    message = message.decode("utf-8")
                instructions = parse(message, BROWSER_MAX_INSTRUCTION)
            except (ProtocolError, UnicodeDecodeError) as exc:
                self.ws.send(encode("error", "Malformed instruction.", CLIENT_BAD_REQUEST))
                self.result.status = CLIENT_BAD_REQUEST
                self._end(f"malformed instruction from browser: {exc}")
                break
            locked = self.input_locked()
            forward = self._release_held() if locked else []
            for opcode, *args in instructions:
                if opcode == INTERNAL_OPCODE:
                    if args[:1] == ["ping"]:
                        self.ws.send(encode(INTERNAL_OPCODE, "ping", *args[1:2]))
                    continue
                if (self.view_only and opcode in CONTROL_OPCODES) or (locked and opcode in LOCKED_OPCODES):
                    continue
                if opcode == "size" and not self.resizes:
                    continue
                self._note_held(opcode, args)
                if opcode in ACTIVITY_OPCODES:
                    self.on_activity()
                elif opcode == "size" and self.on_size is not None:
                    self.on_size(args)
                forward.append(encode(opcode, *args))
            if forward:
                with self.guacd_writes:
                    sock.sendall("".join(forward).encode())

    def _note_error(self, complete: str) -> None:
        for opcode, *args in parse(complete, GUACD_MAX_INSTRUCTION):
            if opcode == "error" and len(args) > 1 and args[1].isdigit():
                self.result.status = int(args[1])

    def _note_held(self, opcode: str, args: list[str]) -> None:
        if opcode == "key" and len(args) >= 2:
            (self._keys_down.add if args[1] == "1" else self._keys_down.discard)(args[0])
        elif opcode == "mouse" and len(args) >= 3:
            self._mouse_down = args if args[2] not in ("", "0") else None

    def _release_held(self) -> list[str]:
        """Key and button releases for what the person held down when their screens were locked."""
        released = [encode("key", keysym, "0") for keysym in sorted(self._keys_down)]
        if self._mouse_down is not None:
            released.append(encode("mouse", *self._mouse_down[:2], "0", *self._mouse_down[3:]))
        self._keys_down, self._mouse_down = set(), None
        return released

    def _answer_required(self, complete: str) -> str:
        """Answer guacd's `required` with argv streams (an empty value for what the broker does not
        have: guacd then fails the login and says so); the rest goes on to the browser."""
        rest = []
        for opcode, *args in parse(complete, GUACD_MAX_INSTRUCTION):
            if opcode != "required":
                rest.append(encode(opcode, *args))
                continue
            answer = []
            for name in args:
                value = base64.b64encode(self.credentials.get(name, "").encode()).decode()
                answer += [
                    encode("argv", ARGV_STREAM, "text/plain", name),
                    encode("blob", ARGV_STREAM, value),
                    encode("end", ARGV_STREAM),
                ]
            log.info("guacd required %s for tunnel %s: answered", ", ".join(args), self.tunnel_uuid)
            with self.guacd_writes:
                self.guacd.sock.sendall("".join(answer).encode())
        return "".join(rest)

    def _without_sound(self, complete: str) -> str:
        """The instructions without guacd's sound streams (`audio`, then their `blob`s and `end`)."""
        kept = []
        for opcode, *args in parse(complete, GUACD_MAX_INSTRUCTION):
            stream = args[0] if args else ""
            if opcode == "audio":
                self.sound_streams.add(stream)
            elif opcode in SOUND_OPCODES and stream in self.sound_streams:
                if opcode == "end":
                    self.sound_streams.discard(stream)
            else:
                kept.append(encode(opcode, *args))
        return "".join(kept)

    def _close_browser(self) -> None:
        try:
            if self.killed:  # the status as the close reason, as guacamole-common-js reads it
                self.ws.close(reason=1000, message=str(SESSION_CLOSED))
            else:
                self.ws.close()
        except Exception:
            pass


class Throttled:
    """Call `action` at most once per `interval` seconds."""

    def __init__(self, action: Callable[[], None], interval: float):
        self.action, self.interval, self.last = action, interval, float("-inf")

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            try:
                self.action()
            except Exception:
                log.warning("could not record desktop activity", exc_info=True)
