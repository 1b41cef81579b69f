"""Colour arithmetic for the brand palette: whatever colours an admin picks, text stays readable
(WCAG 2 contrast: 4.5:1 for text)."""

from __future__ import annotations

import re

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
BLACK, WHITE = "#000000", "#ffffff"
TEXT_CONTRAST = 4.5

# The surfaces brand-coloured text and rings are drawn on (web/src/app.css, viewer.css, broker/static/site.css).
LIGHT_SURFACES = ("#ffffff", "#eef2f6", "#f4f6f8")
DARK_SURFACES = ("#0d0f12", "#15181c", "#1f242b")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(channel):02x}" for channel in rgb)


def luminance(colour: str) -> float:
    """Relative luminance, as WCAG 2 defines it."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def mix(colour: str, other: str, share: float) -> str:
    """`colour` with `share` (0…1) of `other` mixed in."""
    return _hex(tuple(c + (o - c) * share for c, o in zip(_rgb(colour), _rgb(other))))


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (at least 4.5:1 either way)."""
    return WHITE if contrast(colour, WHITE) >= contrast(colour, BLACK) else BLACK


def readable_on(colour: str, surfaces: tuple[str, ...], target: float = TEXT_CONTRAST) -> str:
    """`colour`, darkened (light surfaces) or lightened (dark ones) just enough to reach `target`
    against every one of `surfaces`."""
    away = BLACK if contrast(surfaces[0], BLACK) > contrast(surfaces[0], WHITE) else WHITE
    for step in range(21):
        candidate = mix(colour, away, step / 20)
        if min(contrast(candidate, surface) for surface in surfaces) >= target:
            return candidate
    return away


def palette(primary: str, accent: str) -> dict[str, str]:
    """The CSS custom properties (without their leading --) every page takes its brand colours from."""
    tint = mix(primary, WHITE, 0.88)
    return {
        "brand": primary,  # the top bar and primary buttons
        "brand-on": text_on(primary),  # text on them
        "brand-tint": tint,  # a light surface in the brand's hue
        "brand-ink": readable_on(primary, (*LIGHT_SURFACES, tint)),  # links, focus rings on light pages
        "brand-glow": readable_on(primary, DARK_SURFACES),  # the same on the viewer's dark surfaces
        "brand-accent": accent,  # stripes and highlights, never text
        "brand-accent-on": text_on(accent),
    }
