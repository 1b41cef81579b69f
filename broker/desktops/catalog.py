"""Desktop types from the images' catalog labels (broker/images/catalog.py defines them).

Types an image describes are added and kept in step with it; what an admin tuned (limits,
enabled, and any field listed in the type's admin_fields, such as a title or icon) stays. Types an
admin made are never touched, and a type whose image is gone is kept: starting it says the image is
missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.images.catalog import CatalogEntry, CatalogImage
from broker.models import DesktopType

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # from an image that is no longer there


def sync_catalog(db: Session, images: list[CatalogImage]) -> SyncReport:
    report = SyncReport()
    entries: dict[str, CatalogEntry] = {}
    # `:latest` first, so an older image still carrying the same catalog id does not win.
    for image in sorted(images, key=lambda found: not found.ref.endswith(":latest")):
        if image.entry is None:
            log.warning("catalog: skipping %s: %s", image.ref, image.error)
        else:
            entries.setdefault(image.entry.id, image.entry)
    with db.no_autoflush:
        for entry in entries.values():
            row = db.get(DesktopType, entry.id)
            if row is None:
                row = DesktopType(id=entry.id, source="image")
                db.add(row)
                report.added.append(entry.id)
            elif row.source != "image":
                log.info("catalog: image %s has the id of admin-made type %s; keeping the admin's", entry.image, row.id)
                continue
            if _apply(row, entry) and entry.id not in report.added:
                report.updated.append(entry.id)
        report.missing = [
            row.id
            for row in db.scalars(select(DesktopType).where(DesktopType.source == "image"))
            if row.id not in entries
        ]
    try:
        db.commit()
    except IntegrityError:  # another broker process added the same types at the same moment
        db.rollback()
        return SyncReport()
    return report


def _apply(row: DesktopType, entry: CatalogEntry) -> bool:
    """Bring the image's own fields of `row` in step with `entry`, except those an admin changed;
    True if anything changed."""
    # A new row starts from the model's default limit; no limit may be below what the image needs
    # (unless an admin chose it).
    memory = row.memory_mb if row.memory_mb is not None else DesktopType.__table__.c.memory_mb.default.arg
    wanted = {
        "image": entry.image,
        "title_en": entry.title.en,
        "title_de": entry.title.de,
        "description_en": entry.description.en,
        "description_de": entry.description.de,
        "icon": entry.icon,
        "vnc_port": entry.vnc_port,
        "shm_size_mb": entry.shm_size_mb,
        "memory_mb": max(memory, entry.min_memory_mb),
    }
    for name in row.admin_fields or ():
        wanted.pop(name, None)
    changed = any(getattr(row, name) != value for name, value in wanted.items())
    for name, value in wanted.items():
        setattr(row, name, value)
    return changed
