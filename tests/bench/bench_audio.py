"""Benchmark: what a desktop's sound costs.

    python -m tests.bench.bench_audio [--seconds 10]

A real base desktop (its PulseAudio), the real guacd (1.3, Debian's) and `broker serve`, on a
private network; a reader holds the owner's tunnel as the browser does (answering `sync`) and
counts what arrives. Four phases of `--seconds` each, measured in the same run:

- sound off (the type's switch), nothing playing: the baseline;
- sound off, a 1 kHz tone playing inside the desktop (pacat): nobody records it;
- sound on, nothing playing: guacd records, the idle sink sends nothing;
- sound on, the tone playing: raw PCM through guacd and the tunnel.

Printed: bytes per second through the tunnel (and of it, guacd's sound stream), and the CPU of
the desktop's pulseaudio plus guacd (its container), each against the baseline, and beside it the
CPU of `broker serve`, which relays the tunnel.
"""

from __future__ import annotations

import argparse
import math
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import update

from broker.db import make_engine, make_sessionmaker
from broker.images.table import format_table
from broker.models import DesktopType
from broker.tunnels.protocol import encode, parse
from tests.bench.bench_tunnel import GuacdDesktop
from tests.fixtures.fake_guacd import TunnelWorld, process_usage
from tests.support.container_usage import cpu_seconds

TONE_HZ, RATE = 1000, 44100


class SoundDesktop(GuacdDesktop):
    """The benchmarks' rig (a base desktop and a real guacd) with the desktop's sound server."""

    def __init__(self):
        super().__init__()
        time.sleep(2)  # the session settles

    def host_pids(self, container, command: str = "") -> list[int]:
        """Host pids of a container's processes (those whose command starts with `command`)."""
        top = container.top(ps_args="-eo pid,args")
        column = top["Titles"].index("PID")
        return [int(row[column]) for row in top["Processes"] if row[-1].startswith(command)]

    def cpu_seconds(self) -> float:
        """CPU time so far of the desktop's pulseaudio and of guacd (its container: every connection's
        process, those that ended too)."""
        [pulseaudio] = self.host_pids(self.desktop, "pulseaudio")
        return process_usage(pulseaudio)[1] + cpu_seconds(self.engine, self.guacd.id)

    def play_tone(self) -> subprocess.Popen:
        """pacat, as the desktop's user, fed a 1 kHz sine at -12 dBFS until killed."""
        second = b"".join(
            struct.pack("<hh", sample, sample)
            for sample in (round(8192 * math.sin(2 * math.pi * TONE_HZ * i / RATE)) for i in range(RATE))
        )
        player = subprocess.Popen(
            ["docker", "exec", "-i", "-u", "user", "-e", "XDG_RUNTIME_DIR=/run/user/1000", self.desktop.id]
            + ["pacat", "--rate=44100", "--channels=2", "--format=s16le"],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

        def feed() -> None:
            try:
                while player.poll() is None:
                    player.stdin.write(second)
                    player.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

        threading.Thread(target=feed, daemon=True).start()
        return player

    def stop_tone(self, player: subprocess.Popen) -> None:
        """Ends the player and pacat in the desktop (which would play out its buffer), then lets
        the sink fall asleep."""
        player.kill()
        player.wait(5)
        self.desktop.exec_run(["pkill", "-x", "pacat"])
        time.sleep(3)


def set_sound(database_url: str, on: bool) -> None:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as db:
        db.execute(update(DesktopType).values(sound=on))
        db.commit()
    engine.dispose()


def relay_cpu(world: TunnelWorld) -> float:
    """CPU time so far of `broker serve` (gunicorn and its workers): the tunnel's relay."""
    return process_usage(world.broker.process.pid)[1]


def phase(world: TunnelWorld, desktop: SoundDesktop, seconds: float, tone: bool) -> dict[str, float]:
    """One tunnel held for `seconds` (after a second to settle): bytes/s in all and of guacd's sound
    streams, and the CPU share (of one core) of pulseaudio + guacd."""
    ws = world.open(1280)
    player = desktop.play_tone() if tone else None
    sound_streams: set[str] = set()
    total = sound = 0
    try:
        settle_until = time.monotonic() + 1.0
        started = cpu_before = relay_before = None
        while True:
            now = time.monotonic()
            if started is None and now >= settle_until:
                started, cpu_before, relay_before, total, sound = now, desktop.cpu_seconds(), relay_cpu(world), 0, 0
            if started is not None and now - started >= seconds:
                break
            message = ws.recv()
            if message == encode("nop"):
                continue
            total += len(message)
            for opcode, *args in parse(message, 1 << 20):
                if opcode == "sync":
                    ws.send(encode("sync", args[0]))
                elif opcode == "audio":
                    sound_streams.add(args[0])
                elif opcode == "blob" and args[0] in sound_streams:
                    sound += len(args[1])
        elapsed = time.monotonic() - started
        cpu = (desktop.cpu_seconds() - cpu_before) / elapsed
        relay = (relay_cpu(world) - relay_before) / elapsed
    finally:
        ws.close()
        if player is not None:
            desktop.stop_tone(player)
    return {"bytes": total / elapsed, "sound": sound / elapsed, "cpu": cpu, "relay": relay}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args()
    desktop = SoundDesktop()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            world = TunnelWorld(
                Path(workdir), desktop.address(desktop.guacd), 4822, desktop.address(desktop.desktop), desktop.password
            )
            database = f"sqlite:///{Path(workdir) / 'standin.db'}"
            results = {}
            try:
                for name, on, tone in (
                    ("sound off, silent (baseline)", False, False),
                    ("sound off, tone playing", False, True),
                    ("sound on, silent", True, False),
                    ("sound on, tone playing", True, True),
                ):
                    set_sound(database, on)
                    results[name] = phase(world, desktop, options.seconds, tone)
            finally:
                world.broker.stop()
    finally:
        desktop.remove()
    base = results["sound off, silent (baseline)"]
    rows = [
        [
            name,
            f"{r['bytes']:,.0f} B/s",
            f"{r['sound']:,.0f} B/s",
            f"{r['bytes'] / base['bytes']:,.1f}",
            f"{r['cpu'] * 100:.2f} %",
            f"{(r['cpu'] - base['cpu']) * 100:+.2f} %",
            f"{r['cpu'] / base['cpu']:.1f}" if base["cpu"] > 0 else "-",
            f"{r['relay'] * 100:.2f} %",
        ]
        for name, r in results.items()
    ]
    print(
        format_table(
            [
                "phase",
                "through the tunnel",
                "of it sound",
                "× baseline",
                "CPU pulseaudio + guacd",
                "added",
                "× baseline",
                "broker (relay)",
            ],
            rows,
        )
    )
    print("CPU in % of one core; raw PCM is 44100 Hz × 2 channels × 2 bytes = 176.4 kB/s, base64 in the protocol.")


if __name__ == "__main__":
    sys.exit(main())
