"""The tunnel's framing under a large stream: every WebSocket message holds whole, intact
instructions (a torn frame once corrupted the stream: simple-websocket's partial sends)."""

import time

from broker.tunnels.protocol import parse
from tests.fixtures.fake_guacd import BLOB, FakeGuacd, TunnelWorld


def test_a_large_stream_to_a_slow_browser_arrives_whole_and_in_order(tmp_path):
    world = TunnelWorld(tmp_path, "127.0.0.1", FakeGuacd().port)
    try:
        ws = world.open(FakeGuacd.STREAM_WIDTH)
        received, syncs = 0, []
        while received < 20_000_000:
            message = ws.recv()
            received += len(message)
            if len(syncs) % 20 == 0:
                time.sleep(0.01)  # a slow browser: the broker's socket buffer fills, sends go partial
            for opcode, *args in parse(message, 1 << 20):  # raises on a torn or mixed-up frame
                if opcode == "blob":
                    assert args[1] == BLOB
                elif opcode == "sync":
                    syncs.append(int(args[0]))
        ws.close()
    finally:
        world.broker.stop()
    assert len(syncs) > 100 and syncs == list(range(syncs[0], syncs[0] + len(syncs)))
