"""Every reason the broker gives for ending a connection has the viewer's own words, in both languages."""

from pathlib import Path

from broker.tunnels.ending import REASONS

WEB = Path(__file__).resolve().parents[2] / "web" / "src"


def test_the_viewer_knows_every_reason_the_broker_sends():
    problems = (WEB / "problems.js").read_text()
    missing = [reason.message for reason in REASONS.values() if f'"{reason.message}"' not in problems]
    assert missing == []
