"""The file manager's path and name checks, and size settings."""

import pytest

from broker.config import parse_size
from broker.errors import DomainError, status_of
from broker.files.names import check_name, split_path


@pytest.mark.parametrize(
    "path, parts",
    [
        ("", ()),
        ("a.txt", ("a.txt",)),
        ("Mathe/Übung 1 – Brüche.txt", ("Mathe", "Übung 1 – Brüche.txt")),
        ("..a/b..", ("..a", "b..")),
        ("%2e%2e", ("%2e%2e",)),
        ("ä" * 127, ("ä" * 127,)),
    ],
)
def test_plain_relative_paths_are_split_into_names(path, parts):
    assert split_path(path) == parts


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x",
        "a/../../x",
        ".",
        "./a",
        "/",
        "/etc/passwd",
        "a//b",
        "a/",
        "a\\b",
        "..\\..\\x",
        "a\x00b",
        "a\nb",
        "a\x7fb",
        "x" * 256,
        "ä" * 128,
        "/".join(["a"] * 2049),
        "\udcff",
    ],
)
def test_everything_else_is_refused(path):
    with pytest.raises(DomainError) as refused:
        split_path(path)
    assert (status_of(refused.value), refused.value.code) == (400, "bad_path")


def test_a_new_name_is_one_name():
    assert check_name("Übung.txt") == "Übung.txt"
    for name in ("", ".", "..", "a/b", "a\\b", "a\x00"):
        with pytest.raises(DomainError):
            check_name(name)


@pytest.mark.parametrize(
    "raw, size",
    [
        ("1024", 1024),
        ("500K", 500 * 2**10),
        ("200M", 200 * 2**20),
        ("2G", 2 * 2**30),
        ("5GiB", 5 * 2**30),
        ("1 TB", 2**40),
        ("7b", 7),
    ],
)
def test_sizes(raw, size):
    assert parse_size(raw) == size


@pytest.mark.parametrize("raw", ["", "0", "-1", "2X", "G", "1.5G", "5i"])
def test_bad_sizes(raw):
    with pytest.raises(ValueError):
        parse_size(raw)
