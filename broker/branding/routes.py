"""Branding over HTTP: the public look (/api/branding, /branding.css, /branding/logo|favicon and
/favicon.ico), the admins' changes (/api/admin/branding…) and their page (/admin/branding). Thin over service."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request

from broker import audit, context
from broker.auth.current import client_ip, require_user, role_required
from broker.branding import current_look, service
from broker.errors import Invalid, NotFound
from broker.pages import FOR_ADMINS, app_page
from broker.models import ROLE_ADMIN

bp = Blueprint("branding", __name__)

# Uploaded SVGs are shown in <img>, where scripts never run; opened on their own, nothing may run either.
_IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def branding_json(look: service.Look) -> dict:
    return {"app_name": look.app_name, "primary_colour": look.primary_colour, "accent_colour": look.accent_colour,
            "logo_url": look.logo_url, "favicon_url": look.favicon_url, "stylesheet_url": look.stylesheet_url,
            "custom_favicon": look.has_favicon, "palette": look.palette, "version": look.version,
            "updated_at": look.updated_at, "max_image_bytes": service.MAX_IMAGE_BYTES}


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
def public_look():
    return jsonify(branding_json(current_look()))


@bp.route("/api/admin/branding", methods=["PUT", "PATCH"])
@role_required(ROLE_ADMIN)
def change():
    changed = service.update(context.db(), require_user(), request.get_json(silent=True),
                             replace=request.method == "PUT")
    return _saved("branding_update", **changed)


@bp.delete("/api/admin/branding")
@role_required(ROLE_ADMIN)
def reset():
    service.reset(context.db(), require_user())
    return _saved("branding_reset")


@bp.get("/api/admin/branding/palette")
@role_required(ROLE_ADMIN)
def preview_palette():
    primary, accent = service.check_colour_args(request.args.get("primary_colour"), request.args.get("accent_colour"))
    return jsonify(palette=service.Look(primary_colour=primary, accent_colour=accent).palette)


@bp.post("/api/admin/branding/<kind>")
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
    return app_page("branding.html", "branding", "branding", FOR_ADMINS,
                    max_name=service.MAX_NAME, max_image_kib=service.MAX_IMAGE_BYTES // 1024)
