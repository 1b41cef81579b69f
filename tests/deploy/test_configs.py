"""The deployment's configuration files, checked by the programs that read them: docker-compose,
nginx, Apache httpd and haproxy, each in a throwaway container built from the Debian base."""

from __future__ import annotations

import json
import re
import secrets
import subprocess

import pytest

from tests.deploy.conftest import ROOT, Compose, fresh_copy, init_install

MINIMAL_ENV = "POSTGRES_PASSWORD=x\nDESKBROKER_WEBSOCKIFY_KEY=y\nDOCKER_GID=0\n"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Compose:
    directory = fresh_copy(tmp_path_factory.mktemp("deskbroker-config"))
    (directory / ".env").write_text(MINIMAL_ENV)
    return Compose(directory)


def config(checkout: Compose, **variant: str) -> dict:
    """`docker-compose config` as data (read by the PyYAML that Debian's docker-compose brings)."""
    checkout.set(**variant)
    try:
        text = checkout("config").stdout
    finally:
        (checkout.directory / ".env").write_text(MINIMAL_ENV)
    as_json = subprocess.run(
        ["/usr/bin/python3", "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=text,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(as_json)


def published(services: dict) -> dict[str, list[str]]:
    return {name: sorted(service["ports"]) for name, service in services.items() if service.get("ports")}


def test_the_compose_file_validates_and_publishes_beyond_this_host_only_the_proxy(checkout):
    stack = config(checkout, COMPOSE_PROFILES="proxy,socket-proxy,images,monitoring")
    services = stack["services"]
    assert {"postgres", "broker", "guacd", "websockify", "nginx", "socket-proxy", "desktop-base"} <= set(services)
    assert published(services) == {
        "nginx": ["0.0.0.0:443:443/tcp", "0.0.0.0:80:80/tcp"],
        "prometheus": ["127.0.0.1:9090:9090/tcp"],  # the monitoring profile's, on loopback
    }
    assert stack["networks"]["desktops"] == {"external": True, "name": "deskbroker-desktops"}
    assert stack["networks"]["database"]["internal"] and stack["networks"]["engine"]["internal"]
    assert services["postgres"]["networks"] == {"database": None}
    assert set(services["guacd"]["networks"]) == {"desktops"}
    for name in ("broker", "guacd", "websockify", "socket-proxy"):
        assert services[name]["read_only"] and services[name]["cap_drop"] == ["ALL"], name


def test_only_the_proxy_profile_publishes_and_a_host_proxy_gets_loopback(checkout):
    assert config(checkout)["services"]["nginx"]["profiles"] == ["proxy"]
    host_proxy = published(
        config(
            checkout,
            COMPOSE_FILE="docker-compose.yml:deploy/compose.host-proxy.yml",
            HTTPS_PORT="8443",
            PROXY_ADDRESS="127.0.0.1",
        )["services"]
    )
    assert host_proxy == {
        "nginx": ["127.0.0.1:80:80/tcp", "127.0.0.1:8443:443/tcp"],
        "broker": ["127.0.0.1:8080:8080/tcp"],
        "websockify": ["127.0.0.1:6080:6080/tcp"],
        "prometheus": ["127.0.0.1:9090:9090/tcp"],  # listed by docker-compose 1.29 whatever the profiles
    }


def test_the_broker_believes_the_stacks_proxy_and_websockify_only_the_public_urls_pages(checkout):
    services = config(checkout, DESKBROKER_PUBLIC_URL="https://desk.school.example")["services"]
    assert services["broker"]["environment"]["DESKBROKER_TRUSTED_PROXIES"] == "nginx"
    assert services["websockify"]["environment"]["ALLOWED_ORIGINS"].split() == ["https://desk.school.example"]
    services = config(
        checkout,
        DESKBROKER_PUBLIC_URL="https://desk.school.example",
        DESKBROKER_TRUSTED_PROXIES="172.31.0.1",
        DESKBROKER_ALLOWED_ORIGINS="https://desk.other.example",
    )["services"]
    assert services["broker"]["environment"]["DESKBROKER_TRUSTED_PROXIES"] == "172.31.0.1"
    assert services["websockify"]["environment"]["ALLOWED_ORIGINS"].split() == [
        "https://desk.school.example",
        "https://desk.other.example",
    ]


def test_guacd_is_upstreams_image_or_debians_build_by_one_setting(checkout):
    services = config(checkout, COMPOSE_PROFILES="images")["services"]  # no registry: Debian's guacd 1.3
    assert services["guacd"]["image"] == "deskbroker/guacd:latest" and "build" not in services["guacd"]
    debian = services["guacd-debian"]
    assert debian["image"] == "deskbroker/guacd:latest" and debian["profiles"] == ["images"]
    assert debian["build"]["context"].endswith("/guacd/guacd") and debian["build"]["args"] == {
        "BASE_IMAGE": "debian:bullseye"
    }
    services = config(checkout, COMPOSE_PROFILES="images", GUACD_IMAGE="guacamole/guacd:1.5.5")["services"]
    assert services["guacd"]["image"] == "guacamole/guacd:1.5.5" and "build" not in services["guacd"]
    assert services["guacd"]["read_only"] and services["guacd"]["cap_drop"] == ["ALL"]
    # No build is ever tagged with the upstream name (`up --build` cannot pass Debian's off as it).
    assert [name for name, service in services.items() if service["image"].startswith("guacamole/")] == ["guacd"]
    assert services["guacd-debian"]["image"] == "deskbroker/guacd:latest"


@pytest.mark.parametrize(
    ("debian", "guacd"), [("debian", "guacamole/guacd:1.5.5"), ("deskbroker/debian", "deskbroker/guacd:latest")]
)
def test_init_picks_upstream_guacd_with_a_registry_and_debians_without(tmp_path, docker_engine, debian, guacd):
    instance = "g" + secrets.token_hex(4)
    directory = fresh_copy(tmp_path)
    try:
        compose = init_install(directory, DEBIAN_REPOSITORY=debian, DESKBROKER_INSTANCE=instance)
        assert compose.setting("GUACD_IMAGE") == guacd
        assert config(compose)["services"]["guacd"]["image"] == guacd
    finally:
        docker_engine.networks.get(f"{instance}-desktops").remove()


def test_a_missing_secret_is_named(checkout):
    (checkout.directory / ".env").write_text("DESKBROKER_WEBSOCKIFY_KEY=y\nDOCKER_GID=0\n")
    try:
        refused = checkout("config", check=False)
    finally:
        (checkout.directory / ".env").write_text(MINIMAL_ENV)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr


def nginx_t(docker_engine, image: str, upstream: str) -> str:
    output = docker_engine.containers.run(
        image,
        entrypoint=["sh", "-c"],
        remove=True,
        stderr=True,
        command=[
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=t -keyout /etc/nginx/tls/tls.key "
            "-out /etc/nginx/tls/tls.crt 2>/dev/null && nginx -t 2>&1"
        ],
        volumes={
            str(ROOT / "deploy" / "nginx" / upstream): {"bind": "/etc/nginx/deskbroker/upstream.conf", "mode": "ro"}
        },
    )
    return output.decode()


def test_nginx_accepts_the_site_in_the_stack_and_on_a_host(docker_engine, debian_images):
    image, _ = docker_engine.images.build(
        path=str(ROOT / "deploy" / "nginx"),
        tag="deskbroker/nginx:latest",
        buildargs={"BASE_IMAGE": f"{debian_images}:bookworm"},
        rm=True,
    )
    for upstream in ("upstream-compose.conf", "upstream-host.conf"):
        output = nginx_t(docker_engine, image.id, upstream)
        assert "syntax is ok" in output and "test is successful" in output, output


def test_apache_accepts_the_example(docker_engine, apache_image):
    output = docker_engine.containers.run(
        apache_image,
        ["sh", "-c", "apache2ctl -v && apache2ctl configtest 2>&1"],
        remove=True,
        volumes={
            str(ROOT / "deploy" / "apache" / "deskbroker.conf"): {
                "bind": "/etc/apache2/sites-enabled/deskbroker.conf",
                "mode": "ro",
            }
        },
    ).decode()
    assert "Syntax OK" in output, output
    version = tuple(map(int, re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", output).groups()))
    assert version >= (2, 4, 47), "upgrade=websocket needs Apache 2.4.47 or newer"


def test_haproxy_accepts_the_socket_proxy(docker_engine, debian_images):
    image, _ = docker_engine.images.build(
        path=str(ROOT / "deploy" / "socket-proxy"),
        tag="deskbroker/socket-proxy:latest",
        rm=True,
        buildargs={"BASE_IMAGE": f"{debian_images}:bookworm"},
    )
    output = docker_engine.containers.run(
        image.id, ["-c", "-f", "/etc/haproxy/deskbroker.cfg"], remove=True, entrypoint=["haproxy"], stderr=True
    ).decode()
    assert "Configuration file is valid" in output, output


def test_the_monitoring_profile_scrapes_the_broker_with_the_token(checkout):
    stack = config(checkout, COMPOSE_PROFILES="proxy,monitoring", DESKBROKER_METRICS_TOKEN="t" * 40)
    services = stack["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["prometheus"]["environment"]["METRICS_TOKEN"] == "t" * 40
    assert services["prometheus"]["environment"]["BROKER_TARGET"] == "broker:8080"
    assert set(services["prometheus"]["networks"]) == {"frontend"} <= set(services["broker"]["networks"])
    assert services["prometheus"]["read_only"] and services["prometheus"]["cap_drop"] == ["ALL"]
