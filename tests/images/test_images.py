"""Desktop images, built and run for real.

Needs a Docker engine (scripts/ensure-docker.sh) and fails, never skips, without one.
No registry is needed: the tool makes its Debian base with debootstrap when it cannot pull.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner
from docker.errors import NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from broker.engine import EngineUnavailable, docker_client
from broker.images.build import BuildError, BuildResult, build_images
from broker.images.catalog import SOUND_PORT, entry_from_labels
from broker.images.cli import images
from broker.rfb import AuthenticationFailed, RFBClient, wait_for_greeting

pytestmark = pytest.mark.docker  # its own client (docker_client()), no shared fixture

VNC_PORT = 5901
PASSWORD = "pw-" + secrets.token_hex(2)  # shorter than 8 characters on purpose
DRAWN = 0.01


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker_client()


@pytest.fixture(scope="module")
def built(client: docker.DockerClient) -> dict[str, BuildResult]:
    started = time.monotonic()
    results = build_images(client, ["xfce"])
    print(f"\nfirst build of base + xfce: {time.monotonic() - started:.1f} s")
    return {result.name: result for result in results}


@pytest.fixture(scope="module")
def network(client: docker.DockerClient) -> Iterator[Network]:
    network = client.networks.create(f"deskbroker-test-{secrets.token_hex(4)}", driver="bridge")
    yield network
    network.remove()


@pytest.fixture
def start_desktop(client: docker.DockerClient, network: Network, built: dict[str, BuildResult]) -> Iterator:
    """Start a desktop like the broker does; everything started is removed afterwards."""
    containers: list[Container] = []

    def start(image: str = "deskbroker/xfce:latest", **options: object) -> tuple[Container, str]:
        options.setdefault("environment", {"VNC_PASSWORD": PASSWORD})
        container = client.containers.run(image, detach=True, network=network.name, **options)
        containers.append(container)
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        wait_for_greeting(address, VNC_PORT, timeout=30)
        return container, address

    yield start
    for container in containers:
        with contextlib.suppress(NotFound):
            container.remove(force=True)


def wait_until_drawn(session: RFBClient, timeout: float = 45) -> float:
    deadline = time.monotonic() + timeout
    while (drawn := session.framebuffer().drawn_fraction()) < DRAWN and time.monotonic() < deadline:
        time.sleep(0.5)
    return drawn


def exec_as_user(container: Container, script: str) -> str:
    exit_code, output = container.exec_run(["sh", "-c", script], user="user")
    assert exit_code == 0, output.decode()
    return output.decode()


def test_no_engine_is_a_clear_error() -> None:
    with pytest.raises(EngineUnavailable, match=r"no Docker engine reachable.*ensure-docker\.sh"):
        docker_client("unix:///nonexistent/docker.sock")


def test_build_tags_version_latest_and_date(client: docker.DockerClient, built) -> None:
    for name in ("base", "xfce"):
        result = built[name]
        assert len(result.tags) == 3
        for tag in result.tags:
            assert client.images.get(tag).id == result.image_id


def test_labels_parse_into_catalog_entries(client: docker.DockerClient, built) -> None:
    for name in ("base", "xfce"):
        ref = f"deskbroker/{name}:latest"
        entry = entry_from_labels(ref, client.images.get(ref).labels)
        assert (entry.id, entry.image, entry.vnc_port) == (name, ref, VNC_PORT)


def test_second_build_is_a_cache_hit(client: docker.DockerClient, built) -> None:
    started = time.monotonic()
    again = build_images(client, ["xfce"], progress=lambda line: None)
    print(f"\nrebuild of base + xfce with nothing changed: {time.monotonic() - started:.1f} s")
    for result in again:
        assert result.rebuilt_steps == [], f"{result.name} re-ran {result.rebuilt_steps}"
        assert result.image_id == built[result.name].image_id


def test_vnc_login_screen_and_resize(start_desktop) -> None:
    container, address = start_desktop()
    with RFBClient(address, VNC_PORT, PASSWORD) as session:
        assert wait_until_drawn(session) >= DRAWN, "the desktop was never drawn"
        session.set_desktop_size(1024, 640)
        screen = session.framebuffer()
        assert (screen.width, screen.height) == (1024, 640)
    with pytest.raises(AuthenticationFailed):
        RFBClient(address, VNC_PORT, "wrong-pw")
    assert PASSWORD not in container.logs().decode(errors="replace")


def test_session_does_not_inherit_the_password(start_desktop) -> None:
    container, _ = start_desktop()
    # Every process of the user, except this exec's own shell (docker exec hands it the
    # container's environment), must lack the password variables.
    leaks = exec_as_user(
        container,
        'for dir in /proc/[0-9]*; do [ "${dir#/proc/}" = $$ ] && continue; '
        'grep -qsa VNC_PASSWORD "$dir/environ" && echo "${dir#/proc/}"; done; true',
    )
    assert leaks.strip() == ""


def test_docker_stop_is_quick_and_clean(start_desktop) -> None:
    container, _ = start_desktop()
    started = time.monotonic()
    container.stop(timeout=10)
    seconds = time.monotonic() - started
    container.reload()
    print(f"\ndocker stop took {seconds:.2f} s")
    assert container.attrs["State"]["ExitCode"] == 0
    assert seconds < 5


def test_a_killed_desktop_starts_again(start_desktop, network: Network) -> None:
    # A kept container killed uncleanly (OOM, host crash) must come back on the next start.
    container, _ = start_desktop("deskbroker/base:latest")
    container.kill()
    container.start()
    container.reload()
    address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    wait_for_greeting(address, VNC_PORT, timeout=30)
    with RFBClient(address, VNC_PORT, PASSWORD) as session:
        wait_until_drawn(session)


def sound_server(container: Container, timeout: float = 10) -> str:
    """`pactl info` as the desktop's user, once the sound server answers."""
    deadline = time.monotonic() + timeout
    while True:
        code, output = container.exec_run(
            ["pactl", "info"], user="user", environment={"XDG_RUNTIME_DIR": "/run/user/1000", "LC_ALL": "C"}
        )
        if code == 0 or time.monotonic() > deadline:
            assert code == 0, output.decode()
            return output.decode()
        time.sleep(0.2)


def test_the_sound_server_serves_the_desktop_and_guacd_also_after_a_kill(start_desktop, network: Network) -> None:
    """PulseAudio as the user: its programs play through the local socket into the null sink guacd
    records (S16LE 44.1 kHz stereo, no resampling), and guacd's port answers; a killed container's
    leftovers (socket, runtime directory) do not keep it from starting again."""
    container, address = start_desktop("deskbroker/base:latest")
    for restart in (False, True):
        if restart:
            container.kill()
            container.start()
            container.reload()
            address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
            wait_for_greeting(address, VNC_PORT, timeout=30)
        info = sound_server(container)
        assert "Default Sink: desktop" in info and "Default Sample Specification: s16le 2ch 44100Hz" in info, info
        assert "User Name: user" in info
        socket.create_connection((address, SOUND_PORT), timeout=3).close()


def test_home_volume_survives_a_new_container(client: docker.DockerClient, start_desktop, tmp_path: Path) -> None:
    volume = client.volumes.create(f"deskbroker-test-home-{secrets.token_hex(4)}")
    password_file = tmp_path / "vnc-password"
    password_file.write_text(PASSWORD + "\n")
    options = {
        "environment": {"VNC_PASSWORD_FILE": "/run/secrets/vnc-password"},
        "volumes": {
            volume.name: {"bind": "/home/user", "mode": "rw"},
            str(password_file): {"bind": "/run/secrets/vnc-password", "mode": "ro"},
        },
    }
    try:
        first, address = start_desktop(**options)
        RFBClient(address, VNC_PORT, PASSWORD).close()  # the password file works
        exec_as_user(first, "test -f ~/.bashrc && echo kept > ~/notes.txt && rm ~/.bashrc")
        first.remove(force=True)

        second, _ = start_desktop(**options)
        # seeded once: the note is still there and the skeleton was not copied again
        assert exec_as_user(second, "cat ~/notes.txt") == "kept\n"
        assert ".bashrc" not in exec_as_user(second, "ls -A ~").split()
        second.remove(force=True)
    finally:
        volume.remove(force=True)


def test_test_command_passes_and_prints_its_table(built, capsys) -> None:
    result = CliRunner().invoke(images, ["test", "base", "xfce"])
    with capsys.disabled():
        print("\n" + result.output)
    assert result.exit_code == 0, result.output
    assert "greeting s" in result.output and "idle MiB" in result.output
    for ref in ("deskbroker/base:latest", "deskbroker/xfce:latest"):
        assert f"{ref}: logged in, desktop drawn" in result.output


def test_list_command_shows_the_catalog(built) -> None:
    result = CliRunner().invoke(images, ["list"])
    assert result.exit_code == 0, result.output
    assert "deskbroker/xfce:latest" in result.output and "XFCE desktop" in result.output


def test_failing_build_names_the_step(client: docker.DockerClient, built, tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "Dockerfile").write_text(
        "ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\nRUN echo preparing the broken step && exit 3\n"
    )
    with pytest.raises(BuildError) as failure:
        build_images(
            client,
            ["broken"],
            images_dir=tmp_path,
            debian_image=built["base"].tags[0],
            progress=lambda line: None,
        )
    message = str(failure.value)
    assert "building broken failed at step 3" in message
    assert "RUN echo preparing the broken step && exit 3" in message
    assert "returned a non-zero code: 3" in message
    assert "preparing the broken step" in message.split("last output:")[1]


def test_unknown_image_is_a_clear_error(client: docker.DockerClient) -> None:
    with pytest.raises(BuildError, match="no image named 'nosuch'"):
        build_images(client, ["nosuch"])


def test_missing_label_fails_the_smoke_test(client: docker.DockerClient, built, tmp_path: Path) -> None:
    (tmp_path / "unlabelled").mkdir()
    (tmp_path / "unlabelled" / "Dockerfile").write_text(
        'ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\nLABEL io.deskbroker.catalog.min-memory-mb=""\n'
    )
    [result] = build_images(
        client,
        ["unlabelled"],
        images_dir=tmp_path,
        debian_image=built["base"].tags[0],
        progress=lambda line: None,
    )
    try:
        outcome = CliRunner().invoke(images, ["test", result.tags[0]])
        assert outcome.exit_code == 1
        assert "label io.deskbroker.catalog.min-memory-mb is missing" in outcome.output
    finally:
        for tag in result.tags:
            client.images.remove(tag)
