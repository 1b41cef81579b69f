"""The production install under test: a fresh copy of the repository (what an admin clones),
its .env written by deploy/init.sh, and Debian's docker-compose 1.29 on a project of its own.

Fixtures:
- ``debian_images`` (session): the Debian bases and the images the stack reuses (desktop
  ``base``, ``guacd``, ``websockify``), built by the images tool as an offline install does
  first; only the layer cache answers when they are up to date.
- ``apache_image`` (session): a throwaway Apache httpd from the Debian base, with the example
  configuration's modules and a self-signed certificate where it expects one.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.images.build import build_images, offline_debian_image

ROOT = Path(__file__).resolve().parents[2]
# CA certificates this host trusts on top of Debian's: a TLS-inspecting proxy in front of PyPI
# and npm needs them in the image builds too (deploy/ca-certificates/).
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
APACHE_IMAGE = "deskbroker-test/apache:latest"
APACHE_DOCKERFILE = b"""
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends apache2 openssl \\
 && rm -rf /var/lib/apt/lists/* \\
 && a2enmod ssl proxy proxy_http headers && a2dissite 000-default \\
 && mkdir -p /etc/ssl/deskbroker \\
 && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=deskbroker-test \\
        -keyout /etc/ssl/deskbroker/tls.key -out /etc/ssl/deskbroker/tls.crt
"""


def fresh_copy(target: Path) -> Path:
    """The repository's files as a clone would have them (untracked ones not ignored included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for certificate in LOCAL_CAS.glob("*.crt"):
        shutil.copy2(certificate, target / "deploy" / "ca-certificates" / certificate.name)
    return target


@dataclass
class Compose:
    """docker-compose in `directory` (project and settings from its .env)."""

    directory: Path

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 1200
    ) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DESKBROKER_", "DOCKER_"))}
        done = subprocess.run(
            ["docker-compose", *args],
            cwd=self.directory,
            env=env,
            input=input,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def setting(self, name: str) -> str:
        values = dict(
            line.split("=", 1)
            for line in (self.directory / ".env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        return values[name]

    def set(self, **values: str) -> None:
        """Change lines of .env (added when missing), as an admin edits it."""
        path = self.directory / ".env"
        lines = [line for line in path.read_text().splitlines() if line.split("=", 1)[0] not in values]
        path.write_text("\n".join(lines + [f"{name}={value}" for name, value in values.items()]) + "\n")

    def container(self, service: str) -> str:
        return self("ps", "-q", service).stdout.strip()


def init_install(directory: Path, **settings: str) -> Compose:
    """deploy/init.sh with `settings` in its environment: .env and the desktops' network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DESKBROKER_", "DOCKER_"))}
    subprocess.run(["deploy/init.sh"], cwd=directory, env={**env, **settings}, check=True, capture_output=True)
    return Compose(directory)


def wait_until(check, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(interval)


@pytest.fixture(scope="session")
def debian_images(docker_engine) -> str:
    """The DEBIAN_REPOSITORY the stack builds from: `deskbroker/debian` offline, else `debian`."""
    build_images(docker_engine, ["base", "guacd", "websockify", "netguard"], progress=lambda _line: None)
    offline = {
        tag for image in docker_engine.images.list(offline_debian_image("bookworm").split(":")[0]) for tag in image.tags
    }
    return "deskbroker/debian" if offline_debian_image("bookworm") in offline else "debian"


@pytest.fixture(scope="session")
def apache_image(docker_engine, debian_images) -> str:
    docker_engine.images.build(
        fileobj=io.BytesIO(APACHE_DOCKERFILE),
        tag=APACHE_IMAGE,
        rm=True,
        forcerm=True,
        buildargs={"BASE_IMAGE": f"{debian_images}:bookworm"},
    )
    return APACHE_IMAGE
