"""Reading image labels into catalog entries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.images import catalog
from broker.images.catalog import CatalogEntry, LabelError, LocalizedText, entry_from_labels

IMAGES_DIR = Path(__file__).resolve().parents[2] / "images"

LABELS = {
    "io.deskbroker.catalog.id": "xfce",
    "io.deskbroker.catalog.title.de": "XFCE-Desktop",
    "io.deskbroker.catalog.title.en": "XFCE desktop",
    "io.deskbroker.catalog.description.de": "Vollständiger XFCE-Desktop.",
    "io.deskbroker.catalog.description.en": "A full XFCE desktop.",
    "io.deskbroker.catalog.icon": "user-desktop",
    "io.deskbroker.catalog.vnc-port": "5901",
    "io.deskbroker.catalog.min-memory-mb": "512",
    "org.opencontainers.image.title": "unrelated labels are ignored",
}


def test_labels_make_an_entry() -> None:
    entry = entry_from_labels("deskbroker/xfce:latest", LABELS)
    assert entry == CatalogEntry(
        id="xfce",
        image="deskbroker/xfce:latest",
        title=LocalizedText(de="XFCE-Desktop", en="XFCE desktop"),
        description=LocalizedText(de="Vollständiger XFCE-Desktop.", en="A full XFCE desktop."),
        icon="user-desktop",
        vnc_port=5901,
        min_memory_mb=512,
    )
    assert entry.title.get("de") == "XFCE-Desktop"
    assert entry.title.get("fr") == "XFCE desktop"


def test_entry_labels_round_trip() -> None:
    labels = {**LABELS, "io.deskbroker.catalog.shm-size-mb": "512"}
    entry = entry_from_labels("img", labels)
    assert entry.shm_size_mb == 512
    assert entry_from_labels("img", entry.labels()) == entry


@pytest.mark.parametrize(
    "name",
    [name for name in LABELS if name.startswith(catalog.LABEL_PREFIX)],
)
def test_missing_label_is_named(name: str) -> None:
    labels = {key: value for key, value in LABELS.items() if key != name}
    with pytest.raises(LabelError, match=re.escape(f"image img: label {name} is missing")):
        entry_from_labels("img", labels)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("io.deskbroker.catalog.vnc-port", "vnc"),
        ("io.deskbroker.catalog.vnc-port", "70000"),
        ("io.deskbroker.catalog.min-memory-mb", "-5"),
        ("io.deskbroker.catalog.shm-size-mb", "1.5"),
        ("io.deskbroker.catalog.id", "XFCE Desktop"),
        ("io.deskbroker.catalog.title.en", "   "),
    ],
)
def test_malformed_label_is_named(name: str, value: str) -> None:
    with pytest.raises(LabelError, match=re.escape(name)):
        entry_from_labels("img", {**LABELS, name: value})


def test_no_labels_at_all() -> None:
    with pytest.raises(LabelError, match=r"io\.deskbroker\.catalog\.id is missing"):
        entry_from_labels("img", None)


@pytest.mark.parametrize("dockerfile", sorted(IMAGES_DIR.glob("*/Dockerfile")), ids=str)
def test_every_dockerfile_labels_a_valid_entry(dockerfile: Path) -> None:
    """Each image sets its own full set of labels (not inheriting its parent's)."""
    text = dockerfile.read_text()
    labels = dict(re.findall(r'(io\.deskbroker\.catalog\.[\w.-]+)="([^"]*)"', text))
    entry = entry_from_labels(dockerfile.parent.name, labels)
    assert entry.id == dockerfile.parent.name
