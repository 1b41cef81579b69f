"""The parts of websockify's token plugin that need no websockify: settings, single use,
log redaction. The plugin as a whole is tested in its container (tests/tier/)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "guacd" / "websockify"))

from deskbroker_websockify.redaction import RedactingLogRecord, redact
from deskbroker_websockify.settings import Settings, SettingsError
from deskbroker_websockify.single_use import SWEEP_AFTER, AlreadyUsed, UsedTokens

from broker.tunnels.vnc_token import sign

KEY = "k" * 32
SITE = "https://desk.school.example"
NOW = 1_800_000_000.0


def test_settings_from_key_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    settings = Settings.from_environment({"VNC_TOKEN_KEY_FILE": str(tmp_path / "key"), "ALLOWED_ORIGINS": SITE})
    assert settings == Settings(KEY.encode(), 5901, Path("/tmp/used-vnc-tokens"), frozenset({SITE}))


def test_settings_from_variables() -> None:
    settings = Settings.from_environment(
        {
            "VNC_TOKEN_KEY": KEY,
            "VNC_PORT": "5902",
            "VNC_TOKEN_USED_DIR": "/run/used",
            "ALLOWED_ORIGINS": "HTTPS://Desk.School.Example:443/, http://10.0.0.5:8080",
        }
    )
    assert settings == Settings(KEY.encode(), 5902, Path("/run/used"), frozenset({SITE, "http://10.0.0.5:8080"}))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ALLOWED_ORIGINS": SITE}, "VNC_TOKEN_KEY_FILE or VNC_TOKEN_KEY must hold"),
        ({"VNC_TOKEN_KEY": "short", "ALLOWED_ORIGINS": SITE}, "at least 32 bytes"),
        ({"VNC_TOKEN_KEY": KEY, "VNC_TOKEN_KEY_FILE": "/x", "ALLOWED_ORIGINS": SITE}, "not both"),
        ({"VNC_TOKEN_KEY_FILE": "/nonexistent/key", "ALLOWED_ORIGINS": SITE}, "cannot read /nonexistent/key"),
        ({"VNC_TOKEN_KEY": KEY, "VNC_PORT": "vnc", "ALLOWED_ORIGINS": SITE}, "VNC_PORT='vnc' is not a port"),
        ({"VNC_PORT": "0", "ALLOWED_ORIGINS": SITE}, "must hold.*; VNC_PORT='0'"),
        ({"VNC_TOKEN_KEY": KEY}, "ALLOWED_ORIGINS must name the broker's public URL"),
        ({"VNC_TOKEN_KEY": KEY, "ALLOWED_ORIGINS": "desk.school.example"}, "ALLOWED_ORIGINS: expected an http"),
    ],
)
def test_settings_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environment(environ)


def test_a_token_id_burns_once(tmp_path: Path) -> None:
    used = UsedTokens(tmp_path / "used")
    used.burn("A" * 22, expires=int(NOW) + 30, now=NOW)
    with pytest.raises(AlreadyUsed):
        UsedTokens(tmp_path / "used").burn("A" * 22, expires=int(NOW) + 30, now=NOW + 1)
    used.burn("B" * 22, expires=int(NOW) + 30, now=NOW)
    assert (tmp_path / "used").stat().st_mode & 0o777 == 0o700


def test_markers_are_swept_a_while_after_expiry(tmp_path: Path) -> None:
    used = UsedTokens(tmp_path)
    used.burn("A" * 22, expires=int(NOW), now=NOW - 30)
    used.burn("B" * 22, expires=int(NOW) + 60, now=NOW - 30)
    used.burn("C" * 22, expires=int(NOW) + 60, now=NOW + SWEEP_AFTER)  # at the margin: kept
    assert (tmp_path / ("A" * 22)).exists()
    used.burn("D" * 22, expires=int(NOW) + 60, now=NOW + SWEEP_AFTER + 1)
    assert sorted(path.name[0] for path in tmp_path.iterdir()) == ["B", "C", "D"]


def test_redaction() -> None:
    token = sign(KEY.encode(), "desk", 5901)
    assert redact(f"Path: '/websockify?token={token}'") == "Path: '/websockify?token=[redacted]'"
    assert redact("/?a=1&token=garbage&b=2") == "/?a=1&token=[redacted]&b=2"
    assert redact(f"Token '{token}' not found") == "Token '[redacted]' not found"
    assert redact("connecting to: desk:5901") == "connecting to: desk:5901"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    token = sign(KEY.encode(), "desk", 5901)
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(RedactingLogRecord)
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("websocket.test").info("Path: '%s'", f"/?token={token}")
    finally:
        logging.setLogRecordFactory(previous)
    assert token not in caplog.text
    assert "token=[redacted]" in caplog.text


def test_settings_name_the_broker_to_ask_and_refuse_anything_but_http() -> None:
    base = {"VNC_TOKEN_KEY": KEY, "ALLOWED_ORIGINS": SITE}
    settings = Settings.from_environment({**base, "DESKBROKER_URL": "http://broker:8080/"})
    assert settings.broker_url == "http://broker:8080"
    assert Settings.from_environment(base).broker_url == ""  # the token alone is checked
    with pytest.raises(SettingsError, match="DESKBROKER_URL='file:///etc/passwd' is not an http"):
        Settings.from_environment({**base, "DESKBROKER_URL": "file:///etc/passwd"})
