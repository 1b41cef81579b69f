"""Local accounts and server-side sessions through the HTTP API, on SQLite and PostgreSQL."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.auth.current import COOKIE_NAME
from broker.auth.sessions import hash_token
from broker.auth.users import create_local_user, set_disabled
from broker.db import utcnow
from broker.models import AuditEvent, AuthSession

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(db):
    user, _ = create_local_user(db, "alice", PASSWORD, ["teacher"], "Alice Example")
    db.commit()
    return user


def sign_in(client, username="alice", password=PASSWORD, ip="10.1.2.3", **kwargs):
    return client.post(
        "/api/auth/local/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        **kwargs,
    )


def four_ways(app, token):
    """Fresh clients, each sending the same session token the way one kind of older client does."""
    cookie_client = app.test_client()
    cookie_client.set_cookie(COOKIE_NAME, token)
    return {
        "cookie": (cookie_client, {}),
        "bearer": (app.test_client(), {"headers": {"Authorization": f"Bearer {token}"}}),
        "header": (app.test_client(), {"headers": {"X-Session-ID": token}}),
        "query": (app.test_client(), {"query_string": {"session_id": token}}),
    }


def test_sign_in_sets_a_secure_session_and_every_transport_works(app, alice):
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["username"] == "alice" and body["user"]["roles"] == ["teacher"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = body["session_token"]
    for way, (fresh, kwargs) in four_ways(app, token).items():
        answer = fresh.get("/api/auth/session", **kwargs)
        assert answer.status_code == 200, way
        assert answer.get_json()["user"]["display_name"] == "Alice Example"


def test_only_a_hash_of_the_token_is_stored(app, alice, db):
    token = sign_in(app.test_client()).get_json()["session_token"]
    stored = db.scalars(select(AuthSession.id)).all()
    assert stored == [hash_token(token)] and token not in stored


def test_https_public_url_marks_the_cookie_secure(app_factory, db, alice):
    client = app_factory(public_url="https://desk.school.example").test_client()
    assert "Secure" in sign_in(client).headers["Set-Cookie"]


@pytest.mark.parametrize("spoil", ["logout", "expire", "disable", "forge"])
def test_ended_or_forged_sessions_are_refused_on_all_four_ways(app, alice, db, spoil):
    token = sign_in(app.test_client()).get_json()["session_token"]
    if spoil == "logout":
        assert (
            app.test_client().post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    elif spoil == "expire":
        record = db.get(AuthSession, hash_token(token))
        record.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    elif spoil == "disable":
        set_disabled(db, "alice", True)
        db.commit()
    else:
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for way, (fresh, kwargs) in four_ways(app, token).items():
        answer = fresh.get("/api/auth/session", **kwargs)
        assert answer.status_code == 401, way
        # Its holder learns why, so the viewer can say so; nobody else holds the token.
        assert answer.get_json()["error"] == ("account_disabled" if spoil == "disable" else "not_signed_in")


def test_cookie_sign_ins_need_the_csrf_token_to_change_anything(app, alice):
    client = app.test_client()
    body = sign_in(client).get_json()
    refused = client.post("/api/auth/logout")
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf_failed"
    assert client.get("/api/auth/session").status_code == 200  # still signed in
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]}).status_code == 200
    assert client.get("/api/auth/session").status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(app, alice):
    wrong = sign_in(app.test_client(), password="not the password")
    unknown = sign_in(app.test_client(), username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


def test_guessing_is_throttled_even_for_the_right_password(app_factory, db, alice):
    client = app_factory(login_max_failures="3", login_lockout="10m").test_client()
    for _ in range(3):
        assert sign_in(client, password="guess guess guess").status_code == 401
    locked = sign_in(client)
    assert locked.status_code == 429
    assert 590 <= int(locked.headers["Retry-After"]) <= 601
    assert "Too many failed sign-ins" in locked.get_json()["message"]
    failures = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login_failed"))
    assert failures == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": {"username": "alice", "password": PASSWORD}},  # a form post (login CSRF)
        {"json": {"username": "alice"}},
        {"json": {"username": ["alice"], "password": PASSWORD}},
        {"json": {"username": "a" * 65, "password": PASSWORD}},
        {"data": "{not json", "content_type": "application/json"},
    ],
)
def test_malformed_sign_in_requests_get_a_clear_400(app, alice, kwargs):
    answer = app.test_client().post("/api/auth/local/login", **kwargs)
    assert answer.status_code == 400
    assert "username and a password" in answer.get_json()["message"] or "overlong" in answer.get_json()["message"]


def test_local_login_can_be_switched_off(app_factory, db, alice):
    client = app_factory(local_login="false").test_client()
    assert sign_in(client).status_code == 404
    assert b"local-login" not in client.get("/").data


def test_the_start_page_shows_the_sign_in_form_then_the_person(app, alice):
    client = app.test_client()
    assert b'id="local-login"' in client.get("/").data
    sign_in(client)
    page = client.get("/").data.decode()
    assert "Alice Example" in page and "teacher" in page


def test_logout_is_audited_and_revokes_the_session(app, alice, db):
    token = sign_in(app.test_client()).get_json()["session_token"]
    app.test_client().post("/api/auth/logout", headers={"X-Session-ID": token})
    record = db.get(AuthSession, hash_token(token))
    db.refresh(record)
    assert record.revoked_at is not None
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login", "logout"]


# --- throttling that cannot be turned against a person

ATTACKER = "203.0.113.66"


def lockouts(db):
    db.expire_all()
    return [
        (event.target, event.ip, event.details["scope"])
        for event in db.scalars(select(AuditEvent).where(AuditEvent.action == "login_lockout").order_by(AuditEvent.id))
    ]


@pytest.fixture
def admin(db):
    user, _ = create_local_user(db, "admin", PASSWORD, ["admin"], "The Admin")
    db.commit()
    return user


def test_an_attacker_elsewhere_cannot_lock_the_admin_out(app_factory, db, admin):
    client = app_factory(login_max_failures="3", login_lockout="10m", login_delay_max="2s").test_client()
    assert sign_in(client, "admin", ip="10.0.0.7").status_code == 200  # the admin's usual place
    # The attacker guesses from one address until that pair is locked, then from more addresses.
    answers = [sign_in(client, "admin", "guess", ATTACKER).status_code for _ in range(5)]
    assert answers == [401, 401, 401, 429, 429]
    locked = sign_in(client, "admin", PASSWORD, ATTACKER)  # even the right password, from there
    assert locked.status_code == 429 and 590 <= int(locked.headers["Retry-After"]) <= 600
    for n in range(4):
        time.sleep(2.1)  # the account's delay (2 s at most here)
        assert sign_in(client, "admin", "guess", f"198.51.100.{n}").status_code == 401
    # From the admin's own address: no wait at all, however the attack goes on.
    assert sign_in(client, "admin", ip="10.0.0.7").status_code == 200
    # From a fresh address: at most the account's delay.
    fresh = sign_in(client, "admin", ip="192.0.2.10")
    if fresh.status_code == 429:
        assert 1 <= int(fresh.headers["Retry-After"]) <= 2
        time.sleep(int(fresh.headers["Retry-After"]))
        fresh = sign_in(client, "admin", ip="192.0.2.10")
    assert fresh.status_code == 200
    assert lockouts(db) == [("admin", ATTACKER, "account+address"), ("admin", ATTACKER, "account")]


def test_the_delay_per_account_doubles_up_to_its_cap(app_factory, db, alice):
    client = app_factory(login_max_failures="2", login_delay_max="2s").test_client()
    waits = []
    for n in range(5):
        answer = sign_in(client, password="guess", ip=f"198.51.100.{n}")
        if answer.status_code == 429:
            waits.append(int(answer.headers["Retry-After"]))
            time.sleep(waits[-1])
            answer = sign_in(client, password="guess", ip=f"198.51.100.{n}")
        assert answer.status_code == 401
    assert waits == [1, 2, 2]  # after failures 2, 3 and 4 of the account
    assert lockouts(db) == [("alice", "198.51.100.1", "account")]


def test_one_address_spraying_many_accounts_is_locked(app_factory, db, alice):
    client = app_factory(login_address_max_failures="4").test_client()
    for name in ("bob", "carol", "dave", "erin"):  # accounts that exist or not: the same
        assert sign_in(client, name, "Winter2026!", ATTACKER).status_code == 401
    refused = sign_in(client, "alice", PASSWORD, ATTACKER)
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.get_json()["message"]
    assert sign_in(client, "alice", PASSWORD, "10.1.2.3").status_code == 200  # nobody else is touched
    assert lockouts(db) == [("erin", ATTACKER, "address")]


def test_a_persons_own_typos_are_forgiven_by_the_right_password(app_factory, db, alice):
    client = app_factory(login_max_failures="3", login_address_max_failures="3").test_client()
    for _ in range(3):
        for _ in range(2):
            assert sign_in(client, password="typo").status_code == 401
        assert sign_in(client).status_code == 200
    assert lockouts(db) == []


def test_ipv6_clients_count_by_their_64(app_factory, db, alice):
    client = app_factory(login_max_failures="2").test_client()
    assert sign_in(client, password="guess", ip="2001:db8:1:2::1").status_code == 401
    assert sign_in(client, password="guess", ip="2001:db8:1:2::ffff").status_code == 401
    assert sign_in(client, ip="2001:db8:1:2:abcd::9").status_code == 429  # another address, same /64
    assert lockouts(db)[0] == ("alice", "2001:db8:1:2::ffff", "account+address")
