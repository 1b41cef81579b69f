"""The desktop speaks its owner's language, on the real engine with the real XFCE image: the language
picked with the broker's toggle (PUT /api/auth/language) sets the session's locale, date format,
translations and keyboard layout; a person who never picked one gets the image's German, as before;
a new pick applies from the next start. And Xvnc has room for many characters outside the layout:
60 distinct CJK characters typed as Unicode keysyms all arrive."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from broker import crypto
from broker.housekeeping import run_once
from broker.models import Desktop, DesktopType
from broker.rfb import RFBClient
from tests.fixtures.broker import SECRET
from tests.fixtures.desktops import containers_of, lifecycle_of, sign_in

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# The environment of the running XFCE session, as its own programs see it.
SESSION_ENV = (
    'export $(tr "\\0" "\\n" < /proc/$(pgrep -o -u user xfce4-session)/environ '
    '| grep -E "^(LANG|LANGUAGE|LC_[A-Z]+)=" | xargs)'
)
CHRISTMAS = "date -d 2026-12-24 '+%x %A'"
XFCE_LABEL = "xfce4-panel --help | grep -e --help-sm-client"  # a string of XFCE's own translations


def in_session(container, command: str, timeout: float = 30) -> str:
    """Run `command` as the desktop user in the session's environment, once the session runs."""
    deadline = time.monotonic() + timeout
    while True:
        code, output = container.exec_run(["sh", "-c", f"{SESSION_ENV} && export DISPLAY=:1 && {command}"], user="user")
        if code == 0 or time.monotonic() > deadline:
            assert code == 0, output.decode()
            return output.decode().strip()
        time.sleep(0.3)


def what_it_speaks(docker_engine, container_id: str) -> dict[str, str]:
    container = docker_engine.containers.get(container_id)
    return {
        "LANG": in_session(container, "echo $LANG"),
        "layout": in_session(container, "setxkbmap -query | sed -n 's/^layout: *//p'"),
        "date": in_session(container, CHRISTMAS),
        "xfce": in_session(container, XFCE_LABEL).split(None, 1)[1],
    }


ENGLISH = {
    "LANG": "en_GB.UTF-8",
    "layout": "us",
    "date": "24/12/26 Thursday",
    "xfce": "Show session management options",
}
GERMAN = {
    "LANG": "de_DE.UTF-8",
    "layout": "de",
    "date": "24.12.2026 Donnerstag",
    "xfce": "Optionen der Sitzungsverwaltung anzeigen",
}


def start(person) -> dict:
    answer = person.call("post", "/api/container/start?desktop_type=xfce")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@sqlite_only
def test_the_desktop_speaks_the_language_its_owner_picked_from_the_next_start(desktop_app, docker_engine):
    app = desktop_app()
    emma, gerd, nina = sign_in(app, "emma"), sign_in(app, "gerd"), sign_in(app, "nina")
    assert emma.call("put", "/api/auth/language", json={"language": "en"}).get_json() == {"language": "en"}
    assert gerd.call("put", "/api/auth/language", json={"language": "de"}).status_code == 200

    english, german, unpicked = start(emma), start(gerd), start(nina)
    assert what_it_speaks(docker_engine, english["container_id"]) == ENGLISH
    assert what_it_speaks(docker_engine, german["container_id"]) == GERMAN
    assert what_it_speaks(docker_engine, unpicked["container_id"]) == GERMAN  # as before: the image's own
    env = docker_engine.api.inspect_container(unpicked["container_id"])["Config"]["Env"]
    assert not any(entry.startswith("DESKTOP_LANG=") for entry in env)

    # A new pick leaves the running desktop alone and applies from its next start, in a new container.
    assert emma.call("put", "/api/auth/language", json={"language": "de"}).status_code == 200
    assert what_it_speaks(docker_engine, english["container_id"]) == ENGLISH
    assert emma.call("post", "/api/container/stop").get_json()["state"] == "stopped"
    again = start(emma)
    assert again["container_id"] != english["container_id"]
    assert what_it_speaks(docker_engine, again["container_id"]) == GERMAN
    # Unchanged, the container is kept as it was.
    assert emma.call("post", "/api/container/stop").get_json()["state"] == "stopped"
    assert start(emma)["container_id"] == again["container_id"]


@sqlite_only
def test_a_pool_desktop_is_only_for_those_who_picked_no_language(desktop_app, docker_engine, instance):
    app = desktop_app(desktop_pool_size="1", desktop_persistent_homes="false")
    lifecycle = lifecycle_of(app)
    with lifecycle.sessions() as db:
        for kind in db.scalars(select(DesktopType).where(DesktopType.id != "xfce")):
            kind.enabled = False
        db.commit()
    assert run_once(lifecycle).pool_started == 1
    [pooled] = containers_of(docker_engine, instance)

    emma = sign_in(app, "emma")  # made without a language, the pooled one would speak German
    assert emma.call("put", "/api/auth/language", json={"language": "en"}).status_code == 200
    english = start(emma)
    assert english["container_id"] != pooled.id
    assert what_it_speaks(docker_engine, english["container_id"]) == ENGLISH
    assert start(sign_in(app, "nina"))["container_id"] == pooled.id  # no pick: taken at once


@sqlite_only
def test_sixty_distinct_characters_outside_the_layout_all_arrive(desktop_app, docker_engine):
    app = desktop_app()
    anna = sign_in(app, "anna")
    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    with lifecycle_of(app).sessions() as db:
        row = db.get(Desktop, desktop["id"])
        address, port = row.address, row.desktop_type.vnc_port
        password = crypto.decrypt(SECRET, row.vnc_password_encrypted)
    container = docker_engine.containers.get(desktop["container_id"])
    # A terminal with the focus, writing what is typed into a file.
    container.exec_run(
        ["xterm", "-e", "sh", "-c", "cat > /tmp/typed"], user="user", environment={"DISPLAY": ":1"}, detach=True
    )
    deadline = time.monotonic() + 20
    while container.exec_run(["pgrep", "-u", "user", "-f", "cat"], user="user").exit_code != 0:
        assert time.monotonic() < deadline, "the terminal did not start"
        time.sleep(0.2)
    time.sleep(0.5)  # mapped and focused

    # None of them is on the German layout: Xvnc puts each on a keycode of its own.
    text = "".join(chr(0x4E00 + 7 * n) for n in range(60))
    with RFBClient(address, port, password) as session:
        session.framebuffer()
        # A key of the layout first: Xvnc loses the very first keysym it adds before any key came
        # through its keyboard (it then copies that keyboard's map over the one it added to).
        session.press(ord("x"))
        for character in text:
            session.press(0x1000000 + ord(character))  # Unicode keysyms, as viewers send them
            time.sleep(0.02)
        session.press(0xFF0D)  # Return: the line goes to `cat`
        session.framebuffer()

    deadline = time.monotonic() + 10
    while (typed := container.exec_run(["cat", "/tmp/typed"], user="user").output.decode().strip()) != "x" + text:
        assert time.monotonic() < deadline, (len(typed), typed)
        time.sleep(0.2)
    added = container.logs().decode(errors="replace").count("Added unknown keysym")
    assert added == 60, added
