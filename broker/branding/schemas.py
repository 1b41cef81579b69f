"""The JSON shapes of branding: the look every page shows, and an admin's change to it."""

from __future__ import annotations

from marshmallow import RAISE, fields
from marshmallow.validate import Length, Regexp

from broker.branding import service
from broker.schemas import Base, Time, derived

COLOUR = Regexp(r"^#[0-9a-fA-F]{6}$")


def palette_field() -> fields.Field:
    return fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": (
                "CSS custom properties (names without the leading --) served in /branding.css: brand, brand-on "
                "(black or white, readable on brand), brand-tint, brand-ink (readable on light pages), brand-glow "
                "(readable on the dark viewer), brand-accent, brand-accent-on"
            )
        },
    )


class BrandingSchema(Base):
    app_name = fields.String()
    primary_colour = fields.String()
    accent_colour = fields.String()
    logo_url = fields.String(allow_none=True, metadata={"description": "null: no logo"})
    favicon_url = fields.String()
    stylesheet_url = fields.String()
    custom_favicon = fields.Boolean(
        attribute="has_favicon", metadata={"description": "false: the default favicon (the name's initial)"}
    )
    palette = palette_field()
    version = fields.String(metadata={"description": "changes with every change; the URLs carry it"})
    updated_at = Time(allow_none=True)
    max_image_bytes = derived(fields.Integer(), lambda look: service.MAX_IMAGE_BYTES)


class PaletteSchema(Base):
    palette = palette_field()


class BrandingChangeSchema(Base):
    class Meta:
        unknown = RAISE  # the document says so; service.update refuses other fields with its own message

    app_name = fields.String(allow_none=True, validate=Length(max=service.MAX_NAME))
    primary_colour = fields.String(allow_none=True, validate=COLOUR)
    accent_colour = fields.String(allow_none=True, validate=COLOUR)


_BRANDING = BrandingSchema()
_PALETTE = PaletteSchema()


def branding_json(look: service.Look) -> dict:
    return _BRANDING.dump(look)


def palette_json(look: service.Look) -> dict:
    return _PALETTE.dump(look)
