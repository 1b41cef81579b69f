"""`broker users …` and `broker db upgrade`, as an admin would type them."""

import pytest
from click.testing import CliRunner

from broker.cli import cli
from tests.fixtures.broker import settings_env


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    for name, value in settings_env(database_url=database_url).items():
        monkeypatch.setenv(name, value)

    def run(*args, input=None):
        return CliRunner().invoke(cli, list(args), input=input)

    return run


def sign_in(app, username, password):
    return app.test_client().post("/api/auth/local/login", json={"username": username, "password": password})


def test_create_prints_a_generated_password_that_works(run, app):
    result = run("users", "create", "admin", "--admin", "--name", "Admin Istrator")
    assert result.exit_code == 0, result.output
    password = result.output.strip().rsplit(" ", 1)[-1]
    assert len(password) >= 16
    answer = sign_in(app, "admin", password)
    assert answer.status_code == 200 and answer.get_json()["user"]["roles"] == ["admin"]


def test_create_refuses_taken_names_bad_names_and_short_passwords(run):
    assert run("users", "create", "anna", "--password-stdin", input="long enough pw\n").exit_code == 0
    for args, stdin, message in [
        (("users", "create", "anna"), None, "is taken"),
        (("users", "create", "bad name!"), None, "a username is"),
        (("users", "create", "ben", "--password-stdin"), "short\n", "at least 10 characters"),
    ]:
        result = run(*args, input=stdin)
        assert result.exit_code != 0 and message in result.output


def test_reset_password_signs_the_account_out_everywhere(run, app):
    run("users", "create", "carla", "--password-stdin", input="first password\n")
    token = sign_in(app, "carla", "first password").get_json()["session_token"]
    assert run("users", "reset-password", "carla", "--password-stdin", input="second password\n").exit_code == 0
    assert app.test_client().get("/api/auth/session", headers={"X-Session-ID": token}).status_code == 401
    assert sign_in(app, "carla", "first password").status_code == 401
    assert sign_in(app, "carla", "second password").status_code == 200


def test_disable_blocks_sign_in_and_ends_sessions_enable_restores(run, app):
    run("users", "create", "dora", "--password-stdin", input="dora password\n")
    token = sign_in(app, "dora", "dora password").get_json()["session_token"]
    assert run("users", "disable", "dora").exit_code == 0
    assert app.test_client().get("/api/auth/session", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    refused = sign_in(app, "dora", "dora password")
    assert refused.status_code == 403 and "disabled" in refused.get_json()["message"]
    assert run("users", "enable", "dora").exit_code == 0
    assert sign_in(app, "dora", "dora password").status_code == 200


def test_set_roles_and_list(run):
    run("users", "create", "emil")
    assert run("users", "set-roles", "emil", "teacher").exit_code == 0
    listing = run("users", "list").output
    assert any(line.split()[:3] == ["emil", "local", "teacher"] for line in listing.splitlines())
    assert run("users", "set-roles", "nobody", "teacher").exit_code != 0


def test_a_bad_setting_stops_the_command_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKBROKER_SECRET_KEY", "short")
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code != 0
    assert "DESKBROKER_SECRET_KEY is malformed: expected at least 32 characters" in result.output
