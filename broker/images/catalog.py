"""The catalog label schema: how a desktop image describes itself as a desktop type.

This module is the single definition of those labels. The Dockerfiles under images/
set them; the image tool and the broker's provisioning read them with
`entry_from_labels`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import docker

LABEL_PREFIX = "io.deskbroker.catalog."
LANGUAGES = ("de", "en")
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # desktop type ids appear in URLs


class LabelError(ValueError):
    """An image's catalog labels are missing or malformed."""


def label(name: str) -> str:
    """Full label name for a schema field, e.g. label("vnc-port")."""
    return LABEL_PREFIX + name


ID = label("id")
ICON = label("icon")
VNC_PORT = label("vnc-port")
MIN_MEMORY_MB = label("min-memory-mb")
SHM_SIZE_MB = label("shm-size-mb")  # optional: /dev/shm the desktop needs (browsers)

# Where a desktop image serves its sound: PulseAudio's native protocol, which guacd records
# (images/base: desktop-init, sound.pa). Not a label: the same in every image built on base.
SOUND_PORT = 4713


def title_label(language: str) -> str:
    return label(f"title.{language}")


def description_label(language: str) -> str:
    return label(f"description.{language}")


@dataclass(frozen=True)
class LocalizedText:
    de: str
    en: str

    def get(self, language: str) -> str:
        """The text in `language`, English when that language is not offered."""
        return self.de if language == "de" else self.en


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    image: str
    title: LocalizedText
    description: LocalizedText
    icon: str
    vnc_port: int
    min_memory_mb: int
    shm_size_mb: int | None = None

    def labels(self) -> dict[str, str]:
        """The labels that describe this entry (the inverse of `entry_from_labels`)."""
        labels = {
            ID: self.id,
            ICON: self.icon,
            VNC_PORT: str(self.vnc_port),
            MIN_MEMORY_MB: str(self.min_memory_mb),
        }
        for language in LANGUAGES:
            labels[title_label(language)] = self.title.get(language)
            labels[description_label(language)] = self.description.get(language)
        if self.shm_size_mb is not None:
            labels[SHM_SIZE_MB] = str(self.shm_size_mb)
        return labels


def entry_from_labels(image: str, labels: Mapping[str, str] | None) -> CatalogEntry:
    """Read an image's labels into a CatalogEntry; LabelError names the offending label."""
    labels = labels or {}

    def text(name: str) -> str:
        value = labels.get(name, "").strip()
        if not value:
            raise LabelError(f"image {image}: label {name} is missing or empty")
        return value

    def number(name: str, low: int, high: int) -> int:
        value = text(name)
        if not value.isdigit() or not low <= int(value) <= high:
            raise LabelError(f"image {image}: label {name}={value!r} is not a whole number in {low}..{high}")
        return int(value)

    def localized(label_for_language: Callable[[str], str]) -> LocalizedText:
        return LocalizedText(**{lang: text(label_for_language(lang)) for lang in LANGUAGES})

    entry_id = text(ID)
    if not ID_PATTERN.fullmatch(entry_id):
        raise LabelError(f"image {image}: label {ID}={entry_id!r} must be lowercase letters, digits and '-'")
    return CatalogEntry(
        id=entry_id,
        image=image,
        title=localized(title_label),
        description=localized(description_label),
        icon=text(ICON),
        vnc_port=number(VNC_PORT, 1, 65535),
        min_memory_mb=number(MIN_MEMORY_MB, 64, 1 << 20),
        shm_size_mb=number(SHM_SIZE_MB, 1, 1 << 20) if SHM_SIZE_MB in labels else None,
    )


@dataclass(frozen=True)
class CatalogImage:
    """A local image that carries the catalog id label, with its entry or what is wrong."""

    ref: str
    tags: tuple[str, ...]
    size_bytes: int
    entry: CatalogEntry | None
    error: str | None


def catalog_images(client: docker.DockerClient) -> list[CatalogImage]:
    """Local images labelled as catalog entries, sorted by reference."""
    found = []
    for image in client.images.list(filters={"label": ID, "dangling": False}):
        tags = tuple(sorted(image.tags))
        ref = next((t for t in tags if t.endswith(":latest")), tags[0] if tags else image.short_id)
        try:
            entry, error = entry_from_labels(ref, image.labels), None
        except LabelError as problem:
            entry, error = None, str(problem)
        found.append(CatalogImage(ref, tags, image.attrs["Size"], entry, error))
    return sorted(found, key=lambda found_image: found_image.ref)
