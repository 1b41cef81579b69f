"""guacd with the VNC plugin: handshake as the broker does it, frames, errors, joining."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from guacamole.client import GuacamoleClient
from guacamole.instruction import GuacamoleInstruction

from tests.tier.containers import (
    GUACD_PORT,
    VNC_PORT,
    Desktop,
    Service,
    logs,
    run_healthcheck,
    stop_cleanly,
    wait_for_log,
)

# guacd >= 1.1 offers its protocol version as the first `args` name (1.3 sends
# VERSION_1_3_0, 1.5 VERSION_1_5_0); answering it by name states the version we speak.
# Answering with the one offered works with both images.
PROTOCOL_VERSIONS = {name: name for name in ("VERSION_1_1_0", "VERSION_1_3_0", "VERSION_1_5_0")}
DRAWING = {"img", "png"}  # 1.3 streams PNGs with img + blob + end; older ones send png
FRAME_TIMEOUT = 15.0


def connect(guacd: Service, **arguments: str) -> GuacamoleClient:
    client = GuacamoleClient(guacd.address, GUACD_PORT, timeout=10)
    client.handshake(width=1024, height=768, dpi=96, image=["image/png"], **PROTOCOL_VERSIONS, **arguments)
    return client


def open_desktop(guacd: Service, desktop: Desktop, password: str | None = None) -> GuacamoleClient:
    return connect(
        guacd,
        protocol="vnc",
        hostname=desktop.name,
        port=str(VNC_PORT),
        password=desktop.password if password is None else password,
    )


def instructions(client: GuacamoleClient, timeout: float = FRAME_TIMEOUT) -> Iterator[GuacamoleInstruction]:
    """What guacd sends, answering `sync` as a browser would (else guacd drops the client).

    pyguacamole's reader cuts at the first `;`, which is fine for what these tests read
    (no `;` inside values); the broker's relay frames on the length prefixes.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instruction = client.read_instruction()
        if instruction.opcode == "sync":
            client.send_instruction(GuacamoleInstruction("sync", instruction.args[0]))
        yield instruction
    raise AssertionError(f"nothing conclusive from guacd within {timeout:g} s")


def wait_for_frame(client: GuacamoleClient) -> list[str]:
    """Opcodes up to the first complete image and the `sync` that ends its frame."""
    seen: list[str] = []
    for instruction in instructions(client):
        seen.append(instruction.opcode)
        assert instruction.opcode != "error", f"guacd error: {instruction.args}"
        if instruction.opcode == "sync" and DRAWING & set(seen):
            return seen
    raise AssertionError("unreachable")


@pytest.fixture
def session(guacd: Service, desktop: Desktop) -> Iterator[GuacamoleClient]:
    started = time.monotonic()
    client = open_desktop(guacd, desktop)
    print(f"\nguacd handshake (select vnc ... ready): {time.monotonic() - started:.3f} s")
    yield client
    client.close()


def test_handshake_ends_ready_with_a_connection_id(session: GuacamoleClient) -> None:
    assert session.connected
    assert session.id and session.id.startswith("$")


def test_desktop_frames_arrive(session: GuacamoleClient) -> None:
    started = time.monotonic()
    seen = wait_for_frame(session)
    print(f"\nfirst frame {time.monotonic() - started:.3f} s after ready: {' '.join(seen[:12])}")
    if "img" in seen:
        assert {"blob", "end"} <= set(seen), seen


def test_the_version_answer_is_understood(guacd: Service, desktop: Desktop) -> None:
    """Only to a client of protocol >= 1.3 does guacd send `required` for a missing
    password; a client that leaves the version empty gets error 519 instead."""
    client = connect(guacd, protocol="vnc", hostname=desktop.name, port=str(VNC_PORT))
    try:
        asked = next(i for i in instructions(client) if i.opcode in ("required", "error"))
        assert (asked.opcode, asked.args) == ("required", ("password",))
    finally:
        client.close()


def test_wrong_password_is_error_519_after_ready(guacd: Service, desktop: Desktop) -> None:
    client = open_desktop(guacd, desktop, password="not-the-password")
    try:
        assert client.id  # guacd only tries the desktop after `ready`
        errors = (i for i in instructions(client) if i.opcode == "error")
        message, status = next(errors).args
        assert status == "519", message
    finally:
        client.close()
    assert "Unable to connect to VNC server" in logs(guacd.container)


def test_unknown_host_is_an_error_too(guacd: Service) -> None:
    client = connect(guacd, protocol="vnc", hostname="no-such-desktop", port=str(VNC_PORT))
    try:
        errors = (i for i in instructions(client) if i.opcode == "error")
        _, status = next(errors).args
        assert status == "519"
    finally:
        client.close()


def test_read_only_join_by_connection_id(session: GuacamoleClient, guacd: Service) -> None:
    wait_for_frame(session)
    viewer = connect(guacd, connectionid=session.id, read_only="true")
    try:
        assert viewer.id == session.id  # `ready` names the connection joined
        assert DRAWING & set(wait_for_frame(viewer))
        assert f'Joining existing connection "{session.id}"' in logs(guacd.container)
    finally:
        viewer.close()


def test_joining_an_unknown_connection_fails(guacd: Service) -> None:
    since = len(logs(guacd.container))
    client = GuacamoleClient(guacd.address, GUACD_PORT, timeout=10)
    client.send_instruction(GuacamoleInstruction("select", "$00000000-0000-0000-0000-000000000000"))
    try:
        answer = client.receive()  # guacd 1.3 just hangs up; newer ones may send an error
        assert answer is None or GuacamoleInstruction.load(answer).opcode == "error"
    finally:
        client.close()
    # guacd says why, a moment later (and before the next test reads its log).
    wait_for_log(guacd.container, "Connection did not succeed", since=since)


def test_healthcheck_is_quiet_and_stop_is_clean(start, guacd: Service) -> None:
    before = logs(guacd.container)
    run_healthcheck(guacd.container)
    time.sleep(0.2)
    assert logs(guacd.container) == before  # health checks leave no trace in the log
    spare = start("deskbroker/guacd:latest", "guacd-stop")
    assert spare.container.attrs["Config"]["User"] == "guacd"
    time.sleep(0.5)
    print(f"\nguacd docker stop: {stop_cleanly(spare.container):.2f} s")
