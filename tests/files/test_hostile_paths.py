"""Hostile paths and names, and links a desktop user plants in their home: nothing outside the space
is ever read or changed (checked by checksums of the neighbour's home and of a folder outside)."""

from __future__ import annotations

import time

import pytest

from tests.files.conftest import home_of, listing, sha256, snapshot, upload
from tests.fixtures.desktops import sign_in

HOSTILE_PATHS = [
    "..",
    "../",
    "../x",
    "a/../../x",
    "./x",
    ".",
    "/etc/passwd",
    "/",
    "a//b",
    "a/",
    "a\\..\\b",
    "..\\x",
    "a\x00b",
    "a\nb",
    "x" * 256,
    "ä" * 128,
    "/".join(["a"] * 2100),
]
# Backslashes in a multipart file name are quoting (dropped by the parser); names with them are tried by rename.
HOSTILE_NAMES = ["..", ".", "", "a/b", "../evil", "a\x00b", "x" * 256]


@pytest.fixture
def outside(tmp_path):
    """A folder on the broker's host that no file operation may touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("host secret")
    return folder


@pytest.fixture
def people(desktop_app):
    app = desktop_app()
    anna, ben = sign_in(app, "anna"), sign_in(app, "ben")
    assert upload(ben, "home", files={"ben.txt": b"ben's", "notes.md": b"# notes"}).status_code == 201
    assert upload(anna, "home", files={"notes.txt": b"anna's"}).status_code == 201
    return app, anna, ben


def attempts(path: str) -> list[tuple[str, str, dict]]:
    """Every files endpoint with `path` wherever a path goes."""
    return [
        ("get", "/api/files/home/list", {"query_string": {"path": path}}),
        ("get", "/api/files/home/download", {"query_string": {"path": path}}),
        ("post", "/api/files/home/folder", {"json": {"path": path}}),
        ("post", "/api/files/home/rename", {"json": {"path": path, "name": "renamed"}}),
        ("post", "/api/files/home/rename", {"json": {"path": "notes.txt", "name": path}}),
        ("post", "/api/files/home/move", {"json": {"path": path, "to": ""}}),
        ("post", "/api/files/home/move", {"json": {"path": "notes.txt", "to": path}}),
        ("post", "/api/files/home/delete", {"json": {"path": path}}),
    ]


def test_traversal_and_malformed_paths_are_refused_everywhere(people, docker_engine, instance, outside):
    _app, anna, _ben = people
    anna_home, ben_home = home_of(docker_engine, instance, "anna"), home_of(docker_engine, instance, "ben")
    before = snapshot(anna_home), snapshot(ben_home), snapshot(outside), snapshot(anna_home.parent)

    for path in HOSTILE_PATHS:
        for method, url, kwargs in attempts(path):
            answer = anna.call(method, url, **kwargs)
            assert answer.status_code == 400 and answer.get_json()["error"] == "bad_path", (url, kwargs, path)
        answer = upload(anna, "home", path, {"x.txt": b"x"})
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_path", path
    for name in HOSTILE_NAMES:
        answer = upload(anna, "home", "", {name: b"evil"})
        assert answer.status_code == 400, name

    # Percent-encoded: decoded once, then refused like the plain one; decoded twice is just a name.
    assert (
        anna.client.get(
            "/api/files/home/list?path=%2e%2e%2f%2e%2e%2fetc", headers={"Authorization": f"Bearer {anna.token}"}
        ).status_code
        == 400
    )
    assert (
        anna.client.get(
            "/api/files/home/download?path=%252e%252e%252fetc%252fpasswd",
            headers={"Authorization": f"Bearer {anna.token}"},
        ).status_code
        == 404
    )
    for url in ("/api/files/%2e%2e/list", "/api/files/..%2fhome/list", "/api/files/home%2f..%2f../list"):
        assert anna.call("get", url).status_code == 404, url

    assert (snapshot(anna_home), snapshot(ben_home), snapshot(outside), snapshot(anna_home.parent)) == before


def exec_as_user(container, command: str) -> str:
    code, output = container.exec_run(["sh", "-c", command], user="user")
    assert code == 0, output
    return output.decode()


def test_links_planted_in_a_running_desktop_are_never_followed(people, docker_engine, instance, outside):
    _app, anna, _ben = people
    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    assert desktop["state"] == "running", desktop
    container = docker_engine.containers.get(desktop["container_id"])
    # Inside the container these point nowhere (or at its own files); on the broker's host they would
    # point at the host's files, if the broker followed them.
    exec_as_user(
        container,
        f"""cd ~ && ln -s {outside} out && ln -s {outside}/secret.txt secret && ln -s / root \
        && ln -s ../../../../../.. up && mkdir box && ln -s {outside} box/inner && mkfifo pipe""",
    )
    anna_home, ben_home = home_of(docker_engine, instance, "anna"), home_of(docker_engine, instance, "ben")
    before = snapshot(outside), snapshot(ben_home)

    entries = listing(anna, "home")
    assert {name: entries[name]["type"] for name in ("out", "secret", "root", "up", "pipe", "box")} == {
        "out": "link",
        "secret": "link",
        "root": "link",
        "up": "link",
        "pipe": "other",
        "box": "folder",
    }
    refused = [("list", path) for path in ("out", "root", "up", "box/inner")] + [
        ("download", path) for path in ("secret", "out/secret.txt", "root/etc/passwd", "box/inner/secret.txt")
    ]
    for action, path in refused:
        answer = anna.call("get", f"/api/files/home/{action}", query_string={"path": path})
        assert answer.status_code == 400 and answer.get_json()["error"] in ("not_a_folder", "is_a_link"), path
    started = time.monotonic()
    pipe = anna.call("get", "/api/files/home/download", query_string={"path": "pipe"})
    assert pipe.status_code == 400 and pipe.get_json()["error"] == "not_a_file"
    assert time.monotonic() - started < 2  # refused, not hanging on the FIFO

    for action, body in [
        ("folder", {"path": "out/new"}),
        ("folder", {"path": "root/tmp/new"}),
        ("rename", {"path": "out/secret.txt", "name": "x"}),
        ("move", {"path": "out/secret.txt", "to": ""}),
        ("move", {"path": "notes.txt", "to": "out"}),
        ("move", {"path": "notes.txt", "to": "box/inner"}),
        ("delete", {"path": "out/secret.txt"}),
        ("delete", {"path": "box/inner/secret.txt"}),
    ]:
        answer = anna.call("post", f"/api/files/home/{action}", json=body)
        assert answer.status_code == 400, (action, body, answer.get_json())
    for folder in ("out", "root/tmp", "up", "box/inner"):
        assert upload(anna, "home", folder, {"evil.txt": b"evil"}).status_code == 400, folder

    # What may be done to a link is done to the link itself, never to what it points at.
    assert upload(anna, "home", "", {"secret": b"replaced"}, replace="true").status_code == 201
    assert anna.call("post", "/api/files/home/rename", json={"path": "up", "name": "up2"}).status_code == 200
    assert anna.call("post", "/api/files/home/move", json={"path": "root", "to": "box"}).status_code == 200
    for path in ("out", "box", "up2", "pipe"):
        assert anna.call("post", "/api/files/home/delete", json={"path": path}).status_code == 200, path
    assert exec_as_user(container, "cd ~ && ls").split() == ["notes.txt", "secret"]
    assert (anna_home / "secret").read_bytes() == b"replaced" and not (anna_home / "secret").is_symlink()
    assert (snapshot(outside), snapshot(ben_home)) == before


def test_a_folder_swapped_for_a_link_meanwhile_is_never_followed(people, docker_engine, instance, outside):
    """The desktop user swaps a folder and a link to the outside as fast as a shell can while the
    file manager works in it: each operation either works inside the home or is refused."""
    _app, anna, _ben = people
    desktop = anna.call("post", "/api/container/start?desktop_type=base").get_json()
    container = docker_engine.containers.get(desktop["container_id"])
    exec_as_user(container, "mkdir ~/d && echo inside > ~/d/inside.txt")
    before = snapshot(outside)
    container.exec_run(
        [
            "sh",
            "-c",
            f"""cd ~ && end=$(($(date +%s) + 4)); while [ $(date +%s) -lt $end ]; do
        mv d d.real; ln -s {outside} d; rm d; mv d.real d; done""",
        ],
        user="user",
        detach=True,
    )
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + 3.5
    round_ = 0
    while time.monotonic() < deadline:
        round_ += 1
        for answer in (
            upload(anna, "home", "d", {f"up{round_}.txt": b"up"}),
            anna.call("get", "/api/files/home/list", query_string={"path": "d"}),
            anna.call("get", "/api/files/home/download", query_string={"path": "d/inside.txt"}),
            anna.call("post", "/api/files/home/folder", json={"path": f"d/f{round_}"}),
            anna.call("post", "/api/files/home/delete", json={"path": f"d/up{round_}.txt"}),
        ):
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            assert answer.status_code in (200, 201, 400, 404), answer.get_json()
            if answer.status_code == 200 and answer.headers["Content-Type"] == "application/octet-stream":
                assert answer.data == b"inside\n"
    time.sleep(1)  # let the swapping loop end
    print(f"\nswap race: {round_} rounds, answers by status {dict(sorted(statuses.items()))}")
    assert statuses.get(400, 0) and (statuses.get(200, 0) + statuses.get(201, 0))  # both happened
    assert snapshot(outside) == before and sha256((outside / "secret.txt").read_bytes()) == sha256(b"host secret")
