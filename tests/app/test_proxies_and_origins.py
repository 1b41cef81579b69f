"""Against a live `broker serve` (gunicorn + gevent, SQLite and PostgreSQL): whose X-Forwarded-For
is believed, that throttling holds across worker processes, and which pages may open /tunnel.

Connections come from several loopback addresses (127.0.0.0/8 is all this machine's), so one
broker sees a configured proxy and a client that is none."""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from sqlalchemy import select

from broker.auth.users import create_local_user
from broker.models import AuditEvent, AuthSession
from tests.fixtures.tunnel_viewer import Viewer

PASSWORD = "correct horse battery"
NO_PROXY, PROXY_BY_NAME, PROXY_BY_NETWORK = "127.0.0.2", "127.0.0.1", "127.0.0.3"


def sign_in(
    broker, source: str, password: str = PASSWORD, forwarded_for: str | None = None, username: str = "alice"
) -> tuple[int, dict]:
    """POST /api/auth/local/login from the loopback address `source`."""
    port = urlsplit(broker.url).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        connection.request(
            "POST",
            "/api/auth/local/login",
            headers=headers,
            body=json.dumps({"username": username, "password": password}),
        )
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()) | {"body": answer.read()}
    finally:
        connection.close()


def with_alice(broker):
    with broker.session() as db:
        create_local_user(db, "alice", PASSWORD, ["teacher"])
        db.commit()
    return broker


def audited(broker, action: str) -> list[str]:
    with broker.session() as db:
        return list(db.scalars(select(AuditEvent.ip).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_forwarded_for_is_believed_from_configured_proxies_only(live_broker_factory, database_url):
    broker = with_alice(live_broker_factory(database_url, trusted_proxies="localhost, 127.0.0.3/32"))
    # A client that is no proxy: its header is ignored, its own address counts.
    assert sign_in(broker, NO_PROXY, forwarded_for="198.51.100.7")[0] == 200
    # A proxy named by host name: the address it appended counts, not what the client wrote before it.
    assert sign_in(broker, PROXY_BY_NAME, forwarded_for="203.0.113.5, 198.51.100.8")[0] == 200
    # Two proxies in a row (a network, then the named one): the client before both.
    assert sign_in(broker, PROXY_BY_NETWORK, forwarded_for="198.51.100.9, 127.0.0.1")[0] == 200
    assert audited(broker, "login") == [NO_PROXY, "198.51.100.8", "198.51.100.9"]
    with broker.session() as db:
        assert sorted(db.scalars(select(AuthSession.ip))) == sorted([NO_PROXY, "198.51.100.8", "198.51.100.9"])
    access_log = broker.output()
    assert '198.51.100.8 "POST /api/auth/local/login HTTP/1.1" 200' in access_log
    assert '198.51.100.7 "POST' not in access_log and "203.0.113.5" not in access_log


def test_a_client_that_is_no_proxy_cannot_escape_throttling_with_forwarded_for(live_broker_factory, database_url):
    broker = with_alice(live_broker_factory(database_url, trusted_proxies="127.0.0.3", login_max_failures="3"))
    answers = [sign_in(broker, NO_PROXY, "guess", forwarded_for=f"198.51.100.{n}")[0] for n in range(4)]
    assert answers == [401, 401, 401, 429]
    assert audited(broker, "login_failed") == [NO_PROXY] * 3
    # Through the configured proxy, another client is another address: not locked, at most slowed
    # by the account's delay (1 s after its third failure).
    status, headers = sign_in(broker, PROXY_BY_NETWORK, forwarded_for="198.51.100.50")
    if status == 429:
        assert int(headers["Retry-After"]) == 1
        time.sleep(1)
        status, _ = sign_in(broker, PROXY_BY_NETWORK, forwarded_for="198.51.100.50")
    assert status == 200


def test_parallel_guesses_across_worker_processes_never_pass_the_limit(live_broker_factory, database_url):
    broker = with_alice(live_broker_factory(database_url, workers="2", login_max_failures="3"))
    with ThreadPoolExecutor(16) as pool:
        answers = sorted(pool.map(lambda _: sign_in(broker, NO_PROXY, "guess")[0], range(16)))
    assert answers == [401] * 3 + [429] * 13
    assert audited(broker, "login_failed") == [NO_PROXY] * 3
    assert audited(broker, "login_lockout") == [NO_PROXY, NO_PROXY]  # the pair's lock; the account's delay
    time.sleep(1)  # the account's delay after three failures
    assert sign_in(broker, PROXY_BY_NAME)[0] == 200  # alice herself, elsewhere


def test_only_pages_of_the_public_url_and_allowed_origins_open_the_tunnel(live_broker_factory, database_url):
    broker = live_broker_factory(database_url, allowed_origins="https://desk.other.example")
    port = urlsplit(broker.url).port

    def answer(**options) -> str:
        viewer = Viewer(broker.url, "no-such-token", **options)
        try:
            return viewer.until("error")[-1][1][1]
        finally:
            viewer.close()

    # 769: past the Origin check, the (made-up) token is refused; 771: the page is refused first.
    assert answer() == "769"  # websocket-client sends the URL's own origin: the public URL
    assert answer(origin=f"http://localhost:{port}") == "769"  # the same loopback server by name
    assert answer(origin="https://desk.other.example") == "769"
    assert answer(origin="https://DESK.other.example:443") == "769"
    assert answer(origin="https://desk.other.example.evil.example") == "771"
    assert answer(origin=f"http://127.0.0.1:{port + 1}") == "771"
    assert answer(origin="null") == "771"
    assert answer(suppress_origin=True) == "771"
    assert (
        "tunnel refused: its Origin 'https://desk.other.example.evil.example' is not this server's address"
        in broker.output()
    )
