"""deploy/init.sh on a network that re-signs TLS: it finds the host's extra CAs, trusts them for the
image builds when told to (TRUST_HOST_CAS=yes), says how when it may not ask, and is quiet when they
are trusted already."""

from __future__ import annotations

import datetime
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy.conftest import fresh_copy


def school_ca(folder: Path) -> Path:
    """A CA as a school's TLS-inspecting proxy has one, where Debian keeps extra CAs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Schulnetz TLS-Inspektion")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / "schulnetz" / "inspection-ca.crt"  # Debian allows folders there
    path.parent.mkdir(parents=True)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def install(tmp_path, docker_engine):
    directory = fresh_copy(tmp_path / "install")
    for stale in (directory / "deploy" / "ca-certificates").glob("*.crt"):
        stale.unlink()  # as on a host without this test machine's own CAs
    instance = "t" + secrets.token_hex(4)
    yield directory, instance
    for network in docker_engine.networks.list(names=[f"{instance}-desktops"]):
        network.remove()


def init(directory: Path, **settings: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DESKBROKER_", "DOCKER_", "TRUST_"))}
    done = subprocess.run(
        ["deploy/init.sh"], cwd=directory, env={**env, **settings}, check=True, capture_output=True, text=True
    )
    return done.stderr


def test_the_hosts_extra_cas_are_trusted_for_the_builds_when_told(install, tmp_path):
    directory, instance = install
    ca = school_ca(tmp_path / "host-cas")
    settings = {"HOST_CA_DIR": str(tmp_path / "host-cas"), "DESKBROKER_INSTANCE": instance}
    copied = directory / "deploy" / "ca-certificates" / "inspection-ca.crt"

    told = init(directory, **settings)  # a script: nobody to ask
    assert "inspection-ca.crt" in told and "TRUST_HOST_CAS=yes" in told
    assert not copied.exists()

    assert init(directory, TRUST_HOST_CAS="no", **settings).count("inspection-ca.crt") == 0
    assert not copied.exists()

    trusted = init(directory, TRUST_HOST_CAS="yes", **settings)
    assert "the image builds trust this host's extra CAs: inspection-ca.crt" in trusted
    assert copied.read_bytes() == ca.read_bytes()

    assert "inspection-ca.crt" not in init(directory, TRUST_HOST_CAS="yes", **settings)  # nothing new
