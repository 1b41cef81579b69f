"""The brand palette keeps text readable (WCAG 2: 4.5:1) whatever colours an admin picks."""

import random

import pytest

from broker.branding.colours import DARK_SURFACES, LIGHT_SURFACES, contrast, palette

rng = random.Random(6)
PICKS = [
    "#000000",
    "#ffffff",
    "#ffff00",
    "#777777",
    "#0b57d0",
    "#8ab4f8",
    "#e60000",
    "#00ff00",
    *(f"#{rng.randrange(1 << 24):06x}" for _ in range(200)),
]


def test_contrast_matches_the_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#0b57d0", "#0b57d0") == pytest.approx(1.0)


def test_every_derived_colour_is_readable_where_it_is_used():
    for colour in PICKS:
        p = palette(colour, colour)
        assert p["brand"] == p["brand-accent"] == colour
        assert contrast(p["brand-on"], colour) >= 4.5 and contrast(p["brand-accent-on"], colour) >= 4.5, colour
        for surface in (*LIGHT_SURFACES, p["brand-tint"]):
            assert contrast(p["brand-ink"], surface) >= 4.5, (colour, surface)
        for surface in DARK_SURFACES:
            assert contrast(p["brand-glow"], surface) >= 4.5, (colour, surface)


def test_readable_colours_are_kept_as_they_are_and_others_changed_only_as_far_as_needed():
    assert palette("#0b57d0", "#8ab4f8")["brand-ink"] == "#0b57d0"
    assert palette("#ffffff", "#000000")["brand-glow"] == "#ffffff"
    yellow = palette("#ffd700", "#ffd700")
    assert yellow["brand-on"] == "#000000"
    assert contrast(yellow["brand-ink"], "#ffffff") < 6  # darkened to readable, not to black
