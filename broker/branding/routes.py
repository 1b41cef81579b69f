"""Branding over HTTP: the public look (/api/branding, /branding.css, /branding/logo|favicon and
/favicon.ico), the admins' changes (/api/admin/branding…) and their page (/admin/branding). Thin over service."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request

from broker import audit, context
from broker.auth.current import client_ip, require_user, role_required
from broker.branding import current_look, service
from broker.branding.schemas import BrandingChangeSchema, BrandingSchema, PaletteSchema, branding_json, palette_json
from broker.errors import Invalid, NotFound
from broker.models import ROLE_ADMIN
from broker.openapi import documented
from broker.pages import FOR_ADMINS, app_page

bp = Blueprint("branding", __name__)

# Uploaded SVGs are shown in <img>, where scripts never run; opened on their own, nothing may run either.
_IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


_IMAGE_KIND = {"name": "kind", "in": "path", "schema": {"type": "string", "enum": ["logo", "favicon"]}}
_CHANGE_ERRORS = {401: "Not signed in", 403: "Not an admin, or missing CSRF token"}


def _saved(action: str, **details) -> Response:
    """Commit an admin's change with its audit record; answer the new look."""
    db = context.db()
    audit.record(db, action, require_user(), "branding", client_ip(), **details)
    db.commit()
    return jsonify(branding_json(service.look(db)))


def _cache(response: Response, look: service.Look) -> Response:
    """URLs carry ?v=<version>: the current version may be kept for good, anything else is rechecked."""
    fresh = request.args.get("v") == look.version
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if fresh else "no-cache"
    return response


@bp.get("/api/branding")
@documented(
    "The app name, colours and image URLs every page shows (public: the sign-in page needs it)",
    public=True,
    responses={200: ("The current branding, defaults filled in", BrandingSchema)},
)
def public_look():
    return jsonify(branding_json(current_look()))


@bp.route("/api/admin/branding", methods=["PUT", "PATCH"])
@documented(
    {
        "PATCH": "Change the fields sent; null or empty: the default (admins)",
        "PUT": "Set all three fields; left out: the default (admins)",
    },
    body=BrandingChangeSchema,
    responses={
        200: ("Saved (audited as branding_update)", BrandingSchema),
        400: "Unknown field, bad colour or app name",
        **_CHANGE_ERRORS,
    },
)
@role_required(ROLE_ADMIN)
def change():
    changed = service.update(
        context.db(), require_user(), request.get_json(silent=True), replace=request.method == "PUT"
    )
    return _saved("branding_update", **changed)


@bp.delete("/api/admin/branding")
@documented(
    "Everything (name, colours, logo, favicon) back to the defaults (admins)",
    responses={200: ("Reset (audited as branding_reset)", BrandingSchema), **_CHANGE_ERRORS},
)
@role_required(ROLE_ADMIN)
def reset():
    service.reset(context.db(), require_user())
    return _saved("branding_reset")


@bp.get("/api/admin/branding/palette")
@documented(
    "The colours pages would derive from these two, for a preview (admins)",
    params=[
        {
            "name": name,
            "in": "query",
            "schema": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
            "description": "#rrggbb; left out: the default",
        }
        for name in ("primary_colour", "accent_colour")
    ],
    responses={200: ("The palette", PaletteSchema), 400: "Not a colour", 401: "Not signed in", 403: "Not an admin"},
)
@role_required(ROLE_ADMIN)
def preview_palette():
    primary, accent = service.check_colour_args(request.args.get("primary_colour"), request.args.get("accent_colour"))
    return jsonify(palette_json(service.Look(primary_colour=primary, accent_colour=accent)))


@bp.post("/api/admin/branding/<kind>")
@documented(
    "Upload the logo or the favicon, as the multipart form field named logo or favicon (admins)",
    description="PNG, JPEG, WebP, SVG (without scripts) or ICO, judged by the bytes; at most 256 KiB. "
    "Audited as branding_image.",
    params=[_IMAGE_KIND],
    form={
        "type": "object",
        "properties": {kind: {"type": "string", "format": "binary"} for kind in ("logo", "favicon")},
    },
    responses={
        200: ("Saved", BrandingSchema),
        400: "No such form field, or not an accepted picture",
        **_CHANGE_ERRORS,
        404: "Neither logo nor favicon",
        413: "Larger than 256 KiB",
    },
)
@role_required(ROLE_ADMIN)
def upload(kind: str):
    service.check_kind(kind)
    picture = request.files.get(kind)
    if picture is None:
        raise Invalid(f"Send the picture as the multipart form field `{kind}`.")
    raw = picture.stream.read(service.MAX_IMAGE_BYTES + 1)
    media_type = service.set_image(context.db(), require_user(), kind, raw)
    return _saved("branding_image", image=kind, type=media_type, bytes=len(raw))


@bp.delete("/api/admin/branding/<kind>")
@documented(
    "Remove the logo, or the favicon (then the default one shows) (admins)",
    params=[_IMAGE_KIND],
    responses={
        200: ("Removed (audited as branding_image_remove)", BrandingSchema),
        **_CHANGE_ERRORS,
        404: "Neither logo nor favicon",
    },
)
@role_required(ROLE_ADMIN)
def remove(kind: str):
    service.remove_image(context.db(), require_user(), kind)
    return _saved("branding_image_remove", image=kind)


@bp.get("/branding.css")
def stylesheet():
    look = current_look()
    return _cache(Response(service.stylesheet(look), mimetype="text/css"), look)


@bp.get("/branding/<kind>")
def image(kind: str):
    look = current_look()
    found = service.image(context.db(), kind)
    if found is None and kind == "favicon":
        found = "image/svg+xml", service.default_favicon(look)
    if found is None:
        raise NotFound("No logo has been uploaded.", code="no_logo")
    response = Response(found[1], mimetype=found[0])
    response.headers["Content-Security-Policy"] = _IMAGE_CSP
    return _cache(response, look)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it where no page names an icon (JSON answers, pictures): the one every page links."""
    return redirect(current_look().favicon_url)


@bp.get("/admin/branding")
def page():
    return app_page(
        "branding.html",
        "branding",
        "branding",
        FOR_ADMINS,
        max_name=service.MAX_NAME,
        max_image_kib=service.MAX_IMAGE_BYTES // 1024,
    )
