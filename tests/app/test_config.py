import re
from pathlib import Path

import pytest

from broker.config import ConfigError, documented_settings, load_settings, parse_duration
from tests.fixtures.broker import settings_env

ROOT = Path(__file__).resolve().parents[2]


def load(**overrides):
    return load_settings(settings_env(**overrides), dotenv=None)


def test_defaults_give_an_embedded_sqlite_install(tmp_path):
    settings = load(data_dir=str(tmp_path))
    assert settings.core.sqlalchemy_url == f"sqlite:///{tmp_path / 'deskbroker.db'}"
    assert not settings.oidc.enabled
    assert settings.auth.local_login
    assert settings.auth.session_lifetime == 12 * 3600
    assert settings.oidc.admin_groups == ("admins",) and settings.oidc.teacher_groups == ("teachers",)


def test_a_postgresql_url_uses_the_driver_the_broker_ships():
    assert load(database_url="postgresql://u:p@db/x").core.sqlalchemy_url == "postgresql+psycopg2://u:p@db/x"
    assert load(database_url="postgresql+psycopg2://u:p@db/x").core.sqlalchemy_url == "postgresql+psycopg2://u:p@db/x"


def test_missing_secret_key_names_the_variable():
    with pytest.raises(ConfigError, match="DESKBROKER_SECRET_KEY is not set"):
        load_settings({}, dotenv=None)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("session_lifetime", "soon", "DESKBROKER_SESSION_LIFETIME is malformed: expected a duration"),
        ("local_login", "maybe", "DESKBROKER_LOCAL_LOGIN is malformed: expected true or false"),
        ("public_url", "localhost:8080", "DESKBROKER_PUBLIC_URL is malformed: expected an http"),
        ("listen", "8080", "DESKBROKER_LISTEN is malformed: expected HOST:PORT"),
        ("workers", "0", "DESKBROKER_WORKERS is malformed: expected a whole number of at least 1"),
        ("database_url", "mysql://x", "DESKBROKER_DATABASE_URL is malformed: expected a SQLAlchemy URL"),
        ("secret_key", "short", "DESKBROKER_SECRET_KEY is malformed: expected at least 32 characters"),
        ("trusted_proxies", "1", "DESKBROKER_TRUSTED_PROXIES is malformed: expected addresses, networks or host names"),
        ("trusted_proxies", "nginx, 10.0.0.0/33", "expected an address, network or host name, not '10.0.0.0/33'"),
        ("allowed_origins", "desk.example", "DESKBROKER_ALLOWED_ORIGINS is malformed: expected an http"),
    ],
)
def test_malformed_settings_are_named_with_what_they_expect(name, value, expected):
    with pytest.raises(ConfigError) as info:
        load(**{name: value})
    assert expected in str(info.value)


def test_proxies_and_origins_in_their_written_forms():
    settings = load(trusted_proxies="127.0.0.1, 172.18.0.0/16 nginx", allowed_origins="HTTPS://Desk.Example:443/x")
    assert settings.core.trusted_proxies == ("127.0.0.1", "172.18.0.0/16", "nginx")
    assert settings.core.allowed_origins == ("https://desk.example",)
    assert load(trusted_proxies="0").core.trusted_proxies == () == load().core.trusted_proxies


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load(workers="x", login_lockout="-")
    assert "DESKBROKER_WORKERS" in str(info.value) and "DESKBROKER_LOGIN_LOCKOUT" in str(info.value)


def test_single_sign_on_needs_discovery_or_all_endpoints():
    with pytest.raises(ConfigError) as info:
        load(oidc_client_id="deskbroker", oidc_authorize_url="https://school.example/iserv/oauth/v2/auth")
    message = str(info.value)
    assert "DESKBROKER_OIDC_DISCOVERY_URL" in message
    assert "DESKBROKER_OIDC_TOKEN_URL" in message and "DESKBROKER_OIDC_AUTHORIZE_URL" not in message.split("all of:")[1]
    iserv = load(
        oidc_client_id="deskbroker",
        oidc_issuer="https://school.example",
        oidc_authorize_url="https://school.example/iserv/oauth/v2/auth",
        oidc_token_url="https://school.example/iserv/oauth/v2/token",
        oidc_jwks_url="https://school.example/iserv/public/jwk",
    )
    assert iserv.oidc.enabled


def test_dotenv_is_read_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DESKBROKER_SECRET_KEY=" + "k" * 40 + "\nDESKBROKER_WORKERS=3\nDESKBROKER_LOG_LEVEL=debug\n")
    settings = load_settings({"DESKBROKER_WORKERS": "2"}, dotenv=dotenv)
    assert settings.core.secret_key == "k" * 40 and settings.core.workers == 2 and settings.core.log_level == "DEBUG"


def test_cookie_flags_follow_the_public_url():
    assert load(public_url="https://desk.school.example").secure_cookies
    assert not load(public_url="http://localhost:8080").secure_cookies
    assert load(public_url="http://localhost:8080", cookie_secure="true").secure_cookies


@pytest.mark.parametrize("raw, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800)])
def test_durations(raw, seconds):
    assert parse_duration(raw) == seconds


def test_docs_and_env_example_document_every_setting():
    documented = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for variable, _default, _help in documented_settings():
        assert re.search(rf"^\| `{variable}` \|", documented, re.MULTILINE), f"{variable} missing from docs"
        assert re.search(rf"^#? ?{variable}=", example, re.MULTILINE), f"{variable} missing from .env.example"


def test_each_setting_sits_in_its_section_under_its_own_name():
    settings = load(instance="school", files_home_quota="1G", guacd_port="4823", oidc_scopes="openid")
    assert settings.desktops.instance == "school" and settings.files.files_home_quota == 2**30
    assert settings.tier.guacd_port == 4823 and settings.oidc.oidc_scopes == "openid"
    assert settings.desktops.egress_network == "deskbroker-desktops-egress"


def test_secrets_are_gathered_from_every_section():
    secrets = load(
        websockify_key="w" * 32, oidc_client_secret="sso-secret", database_url="postgresql://u:p@db/x"
    ).secrets()
    assert set(secrets) == {load().core.secret_key, "w" * 32, "sso-secret", "postgresql://u:p@db/x"}


def test_shared_volumes_must_be_a_folder_that_is_there(tmp_path):
    for wrong in ("relative/volumes", str(tmp_path / "not-mounted")):
        with pytest.raises(ConfigError, match="DESKBROKER_SHARED_VOLUMES has to be an absolute path to a folder"):
            load(shared_volumes=wrong)
    assert load(shared_volumes=str(tmp_path)).desktops.shared_volumes == str(tmp_path)


def test_other_swarm_nodes_engines_are_reached_only_over_tls_with_every_certificate(tmp_path):
    with pytest.raises(ConfigError, match="DESKBROKER_SWARM_NODE_ENGINE is malformed"):
        load(swarm_node_engine="http://{address}:2375")
    with pytest.raises(ConfigError, match="DESKBROKER_SWARM_NODE_ENGINE is malformed"):
        load(swarm_node_engine="tcp://node1:2376")  # one engine for every node cannot be right
    (tmp_path / "ca.pem").write_text("ca")
    with pytest.raises(
        ConfigError, match=re.escape("needs DESKBROKER_SWARM_NODE_TLS: a folder with cert.pem, key.pem")
    ):
        load(swarm_node_engine="tcp://{address}:2376", swarm_node_tls=str(tmp_path))
    (tmp_path / "cert.pem").write_text("cert")
    (tmp_path / "key.pem").write_text("key")
    settings = load(swarm_node_engine="tcp://{address}:2376", swarm_node_tls=str(tmp_path))
    assert settings.desktops.swarm_node_engine == "tcp://{address}:2376"
