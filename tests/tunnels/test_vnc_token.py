"""The VNC token codec shared by the broker (signing) and websockify's plugin (verifying)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from broker.tunnels.vnc_token import (
    MAX_LIFETIME,
    BadSignature,
    LifetimeTooLong,
    MalformedToken,
    Target,
    TokenError,
    TokenExpired,
    WrongAudience,
    sign,
    verify,
)

KEY = b"k" * 32
NOW = 1_800_000_000.0


def forge(claims: dict, key: bytes = KEY) -> str:
    """A token with exactly these claims, properly signed (to test the claim checks)."""
    header, _, _ = sign(key, "desk", 5901, now=NOW).split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    mac = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_round_trip() -> None:
    token = sign(KEY, "deskbroker-desktop-42", 5901, now=NOW)
    target = verify(KEY, token, "websockify", now=NOW + 29)
    assert (target.host, target.port, target.exp) == ("deskbroker-desktop-42", 5901, NOW + 30)
    assert target == Target("deskbroker-desktop-42", 5901, claims_of(token)["jti"], int(NOW) + 30)


def test_is_a_standard_hs256_jwt() -> None:
    token = sign(KEY, "10.0.3.7", 5901, ttl=20, audience="websockify", now=NOW)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = claims_of(token)
    assert claims["aud"] == "websockify" and claims["iat"] == NOW and claims["exp"] == NOW + 20
    assert "=" not in token and len(token) < 300


def test_every_token_has_its_own_id() -> None:
    tokens = [sign(KEY, "desk", 5901, now=NOW) for _ in range(50)]
    assert len({verify(KEY, token, "websockify", now=NOW).jti for token in tokens}) == 50


def test_expired() -> None:
    token = sign(KEY, "desk", 5901, ttl=30, now=NOW)
    with pytest.raises(TokenExpired, match="expired 0 s ago"):
        verify(KEY, token, "websockify", now=NOW + 30)


def test_other_key() -> None:
    token = sign(b"o" * 32, "desk", 5901, now=NOW)
    with pytest.raises(BadSignature):
        verify(KEY, token, "websockify", now=NOW)


def test_tampered_payload() -> None:
    header, _, signature = sign(KEY, "desk", 5901, now=NOW).split(".")
    other_payload = sign(KEY, "other-desk", 5901, now=NOW).split(".")[1]
    with pytest.raises(BadSignature):
        verify(KEY, f"{header}.{other_payload}.{signature}", "websockify", now=NOW)


def test_wrong_audience() -> None:
    token = sign(KEY, "desk", 5901, audience="guacamole-tunnel", now=NOW)
    with pytest.raises(WrongAudience, match="'guacamole-tunnel', not 'websockify'"):
        verify(KEY, token, "websockify", now=NOW)


def test_lifetime_longer_than_allowed() -> None:
    token = sign(KEY, "desk", 5901, ttl=MAX_LIFETIME + 1, now=NOW)
    with pytest.raises(LifetimeTooLong, match="61 s; at most 60 s"):
        verify(KEY, token, "websockify", now=NOW)
    verify(KEY, sign(KEY, "desk", 5901, ttl=MAX_LIFETIME, now=NOW), "websockify", now=NOW)
    with pytest.raises(LifetimeTooLong):
        verify(KEY, sign(KEY, "desk", 5901, ttl=20, now=NOW), "websockify", max_ttl=10, now=NOW)


def test_issued_in_the_future_counts_as_too_long() -> None:
    """A short lifetime claimed from a far-future `iat` would still be usable for long."""
    token = sign(KEY, "desk", 5901, ttl=30, now=NOW + 3600)
    with pytest.raises(LifetimeTooLong, match="issued 3600 s in the future"):
        verify(KEY, token, "websockify", now=NOW)
    verify(KEY, sign(KEY, "desk", 5901, ttl=30, now=NOW + 3), "websockify", now=NOW)  # skew


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "a.b.c",
        "x" * 5000,
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.e30.",  # alg none, no signature
        None,
        b"bytes",
    ],
)
def test_malformed(token: object) -> None:
    with pytest.raises(MalformedToken):
        verify(KEY, token, "websockify", now=NOW)  # type: ignore[arg-type]


def test_other_algorithm_header_is_refused() -> None:
    _, payload, signature = sign(KEY, "desk", 5901, now=NOW).split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"HS512","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(MalformedToken, match="only HS256"):
        verify(KEY, f"{header}.{payload}.{signature}", "websockify", now=NOW)


GOOD_CLAIMS = {
    "aud": "websockify",
    "host": "desk",
    "port": 5901,
    "jti": "A" * 22,
    "iat": int(NOW),
    "exp": int(NOW) + 30,
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("host", "../../etc/passwd"),
        ("host", "desk/path"),
        ("host", ""),
        ("host", 5),
        ("port", "5901"),
        ("port", 0),
        ("port", 70000),
        ("port", True),
        ("jti", "../../../tmp/x"),
        ("jti", "short"),
        ("exp", "soon"),
        ("exp", 1.5e9),
        ("iat", None),
        ("aud", ["websockify"]),
    ],
)
def test_malformed_claims(name: str, value: object) -> None:
    verify(KEY, forge(GOOD_CLAIMS), "websockify", now=NOW)  # the baseline is fine
    with pytest.raises(MalformedToken, match=repr(name)):
        verify(KEY, forge({**GOOD_CLAIMS, name: value}), "websockify", now=NOW)


def test_missing_claim() -> None:
    claims = {key: value for key, value in GOOD_CLAIMS.items() if key != "jti"}
    with pytest.raises(MalformedToken, match="'jti' is missing"):
        verify(KEY, forge(claims), "websockify", now=NOW)


def test_payload_that_is_not_an_object() -> None:
    with pytest.raises(MalformedToken, match="not a JSON object"):
        verify(KEY, forge([1, 2]), "websockify", now=NOW)  # type: ignore[arg-type]


def test_errors_never_quote_the_token() -> None:
    tokens = [
        sign(KEY, "desk", 5901, now=NOW - 100),
        sign(b"o" * 32, "desk", 5901, now=NOW),
        sign(KEY, "desk", 5901, ttl=600, now=NOW),
        sign(KEY, "desk", 5901, audience="x", now=NOW),
    ]
    for token in tokens:
        with pytest.raises(TokenError) as refused:
            verify(KEY, token, "websockify", now=NOW)
        assert token.split(".")[2] not in str(refused.value)
        assert token.split(".")[1] not in str(refused.value)


@pytest.mark.parametrize(
    ("host", "port", "ttl"),
    [("desk/x", 5901, 30), ("desk", 0, 30), ("desk", "5901", 30), ("desk", 5901, 0)],
)
def test_sign_refuses_bad_input(host: str, port: int, ttl: int) -> None:
    with pytest.raises(ValueError):
        sign(KEY, host, port, ttl=ttl)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        sign(b"short", "desk", 5901)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        verify(b"short", sign(KEY, "desk", 5901), "websockify")
