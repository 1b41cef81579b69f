"""Names for any username, and stored VNC passwords only the broker can read."""

import re

import pytest

from broker import crypto
from broker.config import ConfigError
from broker.desktops.naming import desktop_name, home_volume_name, pool_name, slug
from tests.fixtures.broker import make_settings

DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
SWARM_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")  # and at most 63 characters

USERNAMES = [
    "max",
    "max.mueller",
    "max.müller",
    "Max-Müller",
    "jörg.straße",
    "李雷",
    "o'brien@school.example",
    "a" * 200,
    "...",
    "x y\tz",
    "ÆØÅ-åøæ",
    "-leading-dash-",
]


@pytest.mark.parametrize("username", USERNAMES)
def test_names_are_valid_for_docker_and_swarm_whatever_the_username(username):
    for name in (
        desktop_name("deskbroker", username, f"oidc:{username}", "xfce"),
        desktop_name("abcdefghijklmnop", username, "sub", "a-very-long-desktop-type-id-" + "z" * 30),
        pool_name("deskbroker", "xfce", "0f5b7c1e-0000-4000-8000-000000000001"),
        home_volume_name("deskbroker", f"oidc:{username}"),
    ):
        assert DOCKER_NAME.match(name) and SWARM_NAME.match(name) and len(name) <= 63, name


def test_names_are_readable():
    assert desktop_name("deskbroker", "Jörg.Müller", "oidc:1", "xfce").startswith("deskbroker-joerg-mueller-xfce-")
    assert slug("李雷") == "" and desktop_name("deskbroker", "李雷", "oidc:2", "xfce").startswith(
        "deskbroker-user-xfce-"
    )


def test_names_that_read_alike_do_not_collide():
    names = {
        desktop_name("deskbroker", username, f"oidc:{username}", "xfce")
        for username in ("max.mueller", "max-mueller", "max.müller", "Max.Mueller", "max_mueller")
    }
    assert len(names) == 5
    long_names = {desktop_name("deskbroker", "a" * 100 + tail, "oidc:" + tail, "xfce") for tail in "xyz"}
    assert len(long_names) == 3
    assert desktop_name("deskbroker", "max", "oidc:1", "xfce") != desktop_name("deskbroker", "max", "oidc:1", "base")


def test_a_home_stays_put_when_the_username_changes():
    assert home_volume_name("deskbroker", "oidc:uuid-1") == home_volume_name("deskbroker", "oidc:uuid-1")
    assert home_volume_name("deskbroker", "oidc:uuid-1") != home_volume_name("deskbroker", "oidc:uuid-2")
    assert home_volume_name("deskbroker", "oidc:uuid-1") != home_volume_name("other", "oidc:uuid-1")


def test_stored_passwords_need_the_secret_key():
    token = crypto.encrypt("k" * 40, "Pa55word")
    assert "Pa55word" not in token and crypto.decrypt("k" * 40, token) == "Pa55word"
    assert crypto.encrypt("k" * 40, "Pa55word") != token  # fresh IV each time
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt("j" * 40, token)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"desktop_pool_size": "2"}, "DESKBROKER_DESKTOP_POOL_SIZE needs DESKBROKER_DESKTOP_PERSISTENT_HOMES=false"),
        ({"instance": "Deskbroker_1"}, "DESKBROKER_INSTANCE is malformed"),
        ({"instance": "a" * 17}, "DESKBROKER_INSTANCE is malformed"),
        ({"desktop_provider": "kubernetes"}, "DESKBROKER_DESKTOP_PROVIDER is malformed: expected one of docker, swarm"),
    ],
)
def test_desktop_settings_are_checked(overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        make_settings(**overrides)


def test_desktop_settings():
    settings = make_settings(
        swarm_constraints="node.role == worker, node.labels.desktops==true",
        desktop_pool_size="2",
        desktop_persistent_homes="false",
    )
    assert settings.desktops.swarm_constraints == ("node.role == worker", "node.labels.desktops==true")
    assert settings.desktops.desktop_idle_timeout == 6 * 3600 and settings.desktops.desktops_per_user == 1
