"""The OpenAPI document of the JSON API, served at /api/openapi.json.

A test compares it with the app's routes in both directions, so a route cannot be added
or removed without this document following.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from broker import __version__
from broker.ids import ID_MAX, KEY_PATTERN
from broker.models import LANGUAGES

bp = Blueprint("openapi", __name__)


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _page(description: str) -> dict:
    """An answer as a page, not JSON: errors of the sign-in redirects (browsers navigate to them), and
    the HTTP server's own refusals."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _ok(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


# Ids as the routes take them (broker.ids): anything else is answered 404 like an unknown id.
_WHOLE_ID = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
_TEXT_ID = {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$", "maxLength": 64}


def _id(name: str, description: str, schema: dict = _TEXT_ID) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description + " (other values: 404, as for an unknown one)"}


_SIGNED_IN = [{"cookie": []}, {"bearer": []}, {"sessionHeader": []}, {"sessionQuery": []}]

_DESKTOP_TYPE = {"name": "desktop_type", "in": "query", "schema": {"type": "string"},
                 "description": "Which of your desktops (a desktop type id); may also come as JSON "
                                "`{\"desktop_type\": …}`. Optional when you have only one (active) desktop."}
_DESKTOP_ID = _id("desktop_id", "The desktop's id or its container id")
_DESKTOP_ERRORS = {"401": _error("Not signed in"), "403": _error("Missing CSRF token"),
                   "404": _error("No such desktop"), "409": _error("The desktop is busy starting or stopping"),
                   "502": _error("The container engine refused"), "503": _error("The container engine is down")}
_ADMIN_ERRORS = {**_DESKTOP_ERRORS, "403": _error("Not an admin, or missing CSRF token")}
_SPACE = {"name": "space", "in": "path", "required": True,
          "schema": {"type": "string", "pattern": "^(home|public|assignment-[0-9]+)$"},
          "description": "home: your own home (what your desktops see at /home/user); public: shared, readable "
                         "by everyone, writable by teachers and admins (desktops see it read-only at /srv/public); "
                         "assignment-<id>: an assignment's folder, writable by the teachers who manage the "
                         "assignment, readable by those it is assigned to (their desktops see it read-only at "
                         "/home/user/<folder>)"}


def _path(description: str, required: bool = True) -> dict:
    return {"name": "path", "in": "query", "required": required, "schema": {"type": "string", "maxLength": 4096},
            "description": description + " Relative to the space's root, names joined by '/' (e.g. docs/a.txt)."}


_FILE_ERRORS = {"400": _error("Bad path or name (.., absolute, NUL, backslash, too long), a link, or not a file"),
                "401": _error("Not signed in"), "404": _error("No such space, file or folder"),
                "503": _error("The volumes cannot be reached (engine down, or the broker not on its host)")}
# A path in the query string makes the URL long: the HTTP server takes request lines of 4094 bytes.
_LONG_URL = {"414": _page("The URL is too long (over 4094 bytes, percent-encoding counted); long paths with "
                          "non-ASCII names may not fit")}
_FILE_CHANGE_ERRORS = {**_FILE_ERRORS, "403": _error("Public space and not a teacher or admin, or missing CSRF token"),
                       "409": _error("Something of that name exists already")}


_STATES = ("creating", "starting", "running", "stopping", "stopped", "error")
_TYPE_ID = _id("type_id", "The desktop type's id")
_CATALOG_ERRORS = {"400": _error("A bad field (the message names it)"), "401": _error("Not signed in"),
                   "403": _error("Not an admin, or missing CSRF token")}

_BRANDING_IMAGE = {"name": "kind", "in": "path", "required": True,
                   "schema": {"type": "string", "enum": ["logo", "favicon"]}}
_TEACHER_ERRORS = {"401": _error("Not signed in"), "403": _error("Not a teacher or admin")}
_TEACHER_GROUP_ERRORS = {**_TEACHER_ERRORS, "403": _error("Not a teacher or admin, or not your group"),
                         "404": _error("No such group")}
_GROUP_ID = _id("group_id", "The group's id", _WHOLE_ID)
_PAGING = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
           {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}]
_ADMIN_READ_ERRORS = {"400": _error("Bad limit, offset or filter (bad_text: a NUL character)"),
                      "401": _error("Not signed in"), "403": _error("Not an admin")}


def _listing(name: str, item: str) -> dict:
    return {"type": "object", "required": [name, "total", "limit", "offset"], "properties": {
        name: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
        "total": {"type": "integer", "description": "how many match, over all pages"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"}}}


def _file_change(summary: str, schema: str, answer: str, status: str = "200") -> dict:
    return {"post": {
        "summary": summary, "security": _SIGNED_IN, "parameters": [_SPACE],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{schema}"}}}},
        "responses": {status: _ok(answer, "FilePath"), **_FILE_CHANGE_ERRORS}}}


SPEC: dict = {
    "openapi": "3.0.3",
    "info": {"title": "deskbroker", "version": __version__,
             "description": "Per-user Linux desktops in the browser. Send the session as the "
                            "`deskbroker_session` cookie (then with `X-CSRF-Token` on changes), "
                            "`Authorization: Bearer`, `X-Session-ID` or `?session_id=`."},
    "paths": {
        "/healthz": {"get": {"summary": "The process answers", "security": [],
                             "responses": {"200": _ok("Up", "Status")}}},
        "/readyz": {"get": {"summary": "The broker can serve requests (database reachable)", "security": [],
                            "responses": {"200": _ok("Ready", "Status"), "503": _ok("Not ready", "Status")}}},
        "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3 document"}}}},
        "/api/auth/login": {"get": {
            "summary": "Start single sign-on (redirects to the provider)", "security": [],
            "parameters": [{"name": "next", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "Path on this site to return to"}],
            "responses": {"302": {"description": "To the provider's login page"},
                          "404": _page("Single sign-on is not configured"),
                          "502": _page("Provider unreachable")}}},
        "/api/auth/authorize": {"get": {
            "summary": "The provider's callback", "security": [],
            "parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                           for name in ("code", "state", "error", "error_description")],
            "responses": {"302": {"description": "Signed in; session cookie set"},
                          "400": _page("Bad, replayed or refused callback"),
                          "403": _page("Account disabled"),
                          "404": _page("Single sign-on is not configured"),
                          "502": _page("Provider unreachable")}}},
        "/api/auth/local/login": {"post": {
            "summary": "Sign in with a local account", "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/LocalLogin"}}}},
            "responses": {"200": _ok("Signed in; also sets the session cookie", "NewSession"),
                          "400": _error("Malformed request"),
                          "401": _error("Wrong username or password"),
                          "403": _error("Account disabled"),
                          "404": _error("Local sign-in is turned off"),
                          "429": _error("Too many failed attempts")}}},
        "/api/auth/session": {"get": {
            "summary": "The current session", "security": _SIGNED_IN,
            "responses": {"200": _ok("Signed in", "Session"), "401": _error("Not signed in")}}},
        "/api/auth/language": {"put": {
            "summary": "Store your language (the toggle's pick); desktops started from then on speak it",
            "description": "A desktop running in another language gets it at its next start, in a new container "
                           "(its home is kept when homes are persistent).",
            "security": _SIGNED_IN,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["language"],
                "properties": {"language": {"type": "string", "enum": list(LANGUAGES)}}}}}},
            "responses": {"200": {"description": "Stored", "content": {"application/json": {"schema": {
                "type": "object", "required": ["language"],
                "properties": {"language": {"type": "string", "enum": list(LANGUAGES)}}}}}},
                          "400": _error("Not de or en"), "401": _error("Not signed in"),
                          "403": _error("Missing CSRF token")}}},
        "/api/auth/logout": {"post": {
            "summary": "Sign out (revokes the session)", "security": _SIGNED_IN,
            "responses": {"200": {"description": "Signed out"}, "401": _error("Not signed in"),
                          "403": _error("Missing CSRF token")}}},
        "/api/desktops/{desktop_id}/connect": {"post": {
            "summary": "A single-use, 30-second permission to open a desktop in the viewer",
            "description": "guacamole: open `WSS /tunnel?token=…&width=…&height=…&dpi=…` (subprotocol "
                           "`guacamole`). novnc (owner only): open `websockify_url` with `password`. "
                           "Others' desktops: mode view, for admins and for teachers of the owner's groups.",
            "security": _SIGNED_IN,
            "parameters": [_id("desktop_id", "The desktop's id")],
            "requestBody": {"content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/ConnectRequest"}}}},
            "responses": {"200": _ok("How to connect", "ConnectAnswer"), "400": _error("Bad mode or protocol"),
                          "401": _error("Not signed in"), "403": _error("noVNC for someone else's desktop"),
                          "404": _error("No such desktop (or not yours), or noVNC not set up"),
                          "409": _error("The desktop is not running")}}},
        "/api/tunnels/novnc/open": {"post": {
            "summary": "For websockify's token plugin: redeem a websockify token before proxying", "security": [],
            "description": "Burns the token's record and checks that the sign-in, account and desktop run it was "
                           "issued under still hold; logs the connection. `key` authorises the calls below.",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}}}},
            "responses": {"201": {"description": "Proxy it", "content": {"application/json": {"schema": {
                "type": "object", "required": ["connection_id", "key", "check_every"], "properties": {
                    "connection_id": {"type": "string"}, "key": {"type": "string"},
                    "check_every": {"type": "number"}}}}}},
                "400": _error("No token"), "401": _error("Invalid, expired or used token"),
                "403": _error("Its access ended (error says why: signed_out, account_disabled, ...)"),
                "404": _error("noVNC not set up")}}},
        "/api/tunnels/novnc/{connection_id}": {"get": {
            "summary": "For websockify: does a noVNC connection's access still hold? (asked every second)",
            "security": [],
            "parameters": [{"name": "connection_id", "in": "path", "required": True, "schema": _TEXT_ID},
                           {"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "It holds", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"live": {"type": "boolean"}}}}}},
                "404": _error("No such connection, or a wrong key"),
                "410": _error("Its access ended: `error` is the reason, `message` the words for people")}}},
        "/api/tunnels/novnc/{connection_id}/end": {"post": {
            "summary": "For websockify: the noVNC connection closed", "security": [],
            "parameters": [{"name": "connection_id", "in": "path", "required": True, "schema": _TEXT_ID},
                           {"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"204": {"description": "Logged"}, "404": _error("No such connection, or a wrong key")}}},
        "/api/container/start": {"post": {
            "summary": "Start your desktop of a type (made if needed); answers once its VNC server answers",
            "security": _SIGNED_IN, "parameters": [{**_DESKTOP_TYPE, "required": True}],
            "responses": {"200": _ok("Running", "Desktop"), "400": _error("No desktop_type"),
                          **_DESKTOP_ERRORS, "403": _error("Type not assigned to you, or missing CSRF token"),
                          "404": _error("No such desktop type"),
                          "409": _error("Quota reached (quota_exceeded) or desktop busy"),
                          "503": _error("Container engine down, or the type's image is missing"),
                          "504": _error("The desktop did not answer in time (it is in state error)")}}},
        "/api/container/status": {"get": {
            "summary": "Your desktop and its state", "security": _SIGNED_IN, "parameters": [_DESKTOP_TYPE],
            "responses": {"200": _ok("The desktop", "Desktop"), "400": _error("Several desktops: say which"),
                          "401": _error("Not signed in"), "404": _error("You have no such desktop")}}},
        "/api/container/stop": {"post": {
            "summary": "Stop your desktop (its container is kept for a fast start)", "security": _SIGNED_IN,
            "parameters": [_DESKTOP_TYPE],
            "responses": {"200": _ok("Stopped", "Desktop"), "400": _error("Several desktops: say which"),
                          **_DESKTOP_ERRORS}}},
        "/api/container/remove": {"post": {
            "summary": "Remove your desktop and its container (your home is kept)", "security": _SIGNED_IN,
            "parameters": [_DESKTOP_TYPE],
            "responses": {"200": _ok("Removed", "Removed"), "400": _error("Several desktops: say which"),
                          **_DESKTOP_ERRORS}}},
        "/api/container/list": {"get": {
            "summary": "Your desktops, and the desktop types you may start", "security": _SIGNED_IN,
            "responses": {"200": _ok("Your desktops", "DesktopList"), "401": _error("Not signed in")}}},
        "/api/events": {"get": {
            "summary": "Your desktops as server-sent events: `desktops` (data: {desktops: [Desktop]}) at once and "
                       "whenever one changes, `: keep-alive` comments every 15 s, `signed_out` when the sign-in "
                       "ends", "security": _SIGNED_IN,
            "responses": {"200": {"description": "An event stream",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                          "401": _error("Not signed in")}}},
        "/api/admin/containers": {"get": {
            "summary": "Every desktop, oldest first, optionally searched and filtered (admins)", "security": _SIGNED_IN,
            "parameters": [
                {"name": "query", "in": "query", "schema": {"type": "string", "maxLength": 255},
                 "description": "Only desktops whose owner (username, display name) or type (id, title) contains this"},
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(_STATES)},
                 "description": "Only desktops in this state"},
                {"name": "desktop_type", "in": "query", "schema": {"type": "string"},
                 "description": "Only desktops of this type (its id)"}],
            "responses": {"200": _ok("The desktops, pool ones with owner null", "AdminDesktopList"),
                          "400": _error("Unknown state, or a NUL character (bad_text)"),
                          "401": _error("Not signed in"),
                          "403": _error("Not an admin")}}},
        "/api/admin/stats": {"get": {
            "summary": "Figures for the admin dashboard: desktops, running, active people, live connections (admins)",
            "security": _SIGNED_IN,
            "responses": {"200": _ok("The figures now", "AdminStats"), "401": _error("Not signed in"),
                          "403": _error("Not an admin")}}},
        "/api/admin/desktop-types": {
            "get": {"summary": "The whole catalog, disabled types too, with how many desktops each has (admins)",
                    "security": _SIGNED_IN,
                    "responses": {"200": _ok("Every desktop type, by id", "AdminDesktopTypeList"),
                                  "401": _error("Not signed in"), "403": _error("Not an admin")}},
            "post": {"summary": "Make a desktop type of your own (admins); audited as admin_desktop_type_create",
                     "security": _SIGNED_IN,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "$ref": "#/components/schemas/NewDesktopType"}}}},
                     "responses": {"201": _ok("Made", "AdminDesktopType"), **_CATALOG_ERRORS,
                                   "409": _error("There is a type of that id already")}}},
        "/api/admin/desktop-types/{type_id}": {
            "patch": {"summary": "Change a desktop type (admins); audited as admin_desktop_type_update",
                      "description": "Only the fields sent change. On a type from an image, the fields changed are "
                                     "listed in admin_fields and the image's labels no longer overwrite them; its "
                                     "image and vnc_port stay the image's.",
                      "security": _SIGNED_IN, "parameters": [_TYPE_ID],
                      "requestBody": {"required": True, "content": {"application/json": {"schema": {
                          "$ref": "#/components/schemas/DesktopTypeChange"}}}},
                      "responses": {"200": _ok("The type as it is now", "AdminDesktopType"), **_CATALOG_ERRORS,
                                    "404": _error("No such desktop type")}},
            "delete": {"summary": "Delete a type an admin made that has no desktops (admins); audited",
                       "security": _SIGNED_IN, "parameters": [_TYPE_ID],
                       "responses": {"200": _ok("Deleted", "DeletedDesktopType"), **_CATALOG_ERRORS,
                                     "404": _error("No such desktop type"),
                                     "409": _error("A type from an image, or one that still has desktops")}}},
        "/api/admin/desktop-types/{type_id}/icon": {"post": {
            "summary": "Upload a desktop type's icon: PNG, JPEG, WebP or SVG (by content), at most 256 KiB (admins)",
            "description": "Stored as a data: URL in the type's icon; audited as admin_desktop_type_icon.",
            "security": _SIGNED_IN, "parameters": [_TYPE_ID],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["icon"],
                "properties": {"icon": {"type": "string", "format": "binary"}}}}}},
            "responses": {"200": _ok("The type with its new icon", "AdminDesktopType"), **_CATALOG_ERRORS,
                          "404": _error("No such desktop type"), "413": _error("Larger than 256 KiB")}}},
        "/api/admin/container/{desktop_id}/stop": {"post": {
            "summary": "Stop anyone's desktop (admins)", "security": _SIGNED_IN, "parameters": [_DESKTOP_ID],
            "responses": {"200": _ok("Stopped", "Desktop"), **_ADMIN_ERRORS}}},
        "/api/admin/container/{desktop_id}/remove": {"delete": {
            "summary": "Remove anyone's desktop and its container; the home volume is kept (admins)",
            "security": _SIGNED_IN, "parameters": [_DESKTOP_ID],
            "responses": {"200": _ok("Removed", "Removed"), **_ADMIN_ERRORS}}},
        "/api/admin/containers/stop-all": {"post": {
            "summary": "Stop every person's running desktop (admins)", "security": _SIGNED_IN,
            "responses": {"200": _ok("How many stopped, and what went wrong", "StopAll"),
                          "401": _error("Not signed in"), "403": _error("Not an admin, or missing CSRF token")}}},
        "/api/admin/connections": {"get": {
            "summary": "Tunnels, newest first: who, which desktop, mode, when, bytes each way, why it ended (admins)",
            "security": _SIGNED_IN,
            "parameters": [{"name": "live", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]},
                            "description": "true: only open ones; false: only ended ones; left out: all"},
                           *_PAGING],
            "responses": {"200": _ok("A page of connections", "ConnectionList"), **_ADMIN_READ_ERRORS}}},
        "/api/admin/connections/{connection_id}/kill": {"post": {
            "summary": "End a live tunnel, in whichever broker process runs it (admins)",
            "description": "The tunnel ends within a few seconds; the viewer gets the error "
                           "`An administrator ended this connection.` (523, SESSION_CLOSED) and the "
                           "connection's end_reason becomes `ended by an administrator`. Audited as "
                           "admin_connection_kill.",
            "security": _SIGNED_IN,
            "parameters": [_id("connection_id", "The connection's id")],
            "responses": {"202": _ok("Kill requested", "Connection"), "401": _error("Not signed in"),
                          "403": _error("Not an admin, or missing CSRF token"),
                          "404": _error("No such connection"), "409": _error("The connection has ended already")}}},
        "/api/admin/audit": {"get": {
            "summary": "The audit log, newest first (admins)", "security": _SIGNED_IN,
            "parameters": [{"name": "action", "in": "query", "schema": {"type": "string"},
                            "description": "Only events of this action, e.g. login, admin_connection_kill"},
                           *_PAGING],
            "responses": {"200": _ok("A page of audit events", "AuditList"), **_ADMIN_READ_ERRORS}}},
        "/api/admin/users": {"get": {
            "summary": "People with auth source, roles, groups, last sign-in and their desktops' states (admins)",
            "security": _SIGNED_IN,
            "parameters": [{"name": "query", "in": "query", "schema": {"type": "string"},
                            "description": "Only people whose username, display name or e-mail contains this"},
                           *_PAGING],
            "responses": {"200": _ok("A page of people, by username", "AdminUserList"), **_ADMIN_READ_ERRORS}}},
        "/api/branding": {"get": {
            "summary": "The app name, colours and image URLs every page shows (public: the sign-in page needs it)",
            "security": [], "responses": {"200": _ok("The current branding, defaults filled in", "Branding")}}},
        "/api/admin/branding": {
            **{method: {
                "summary": summary, "security": _SIGNED_IN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/BrandingChange"}}}},
                "responses": {"200": _ok("Saved (audited as branding_update)", "Branding"),
                              "400": _error("Unknown field, bad colour or app name"), "401": _error("Not signed in"),
                              "403": _error("Not an admin, or missing CSRF token")}}
               for method, summary in (("patch", "Change the fields sent; null or empty: the default (admins)"),
                                       ("put", "Set all three fields; left out: the default (admins)"))},
            "delete": {"summary": "Everything (name, colours, logo, favicon) back to the defaults (admins)",
                       "security": _SIGNED_IN,
                       "responses": {"200": _ok("Reset (audited as branding_reset)", "Branding"),
                                     "401": _error("Not signed in"),
                                     "403": _error("Not an admin, or missing CSRF token")}}},
        "/api/admin/branding/palette": {"get": {
            "summary": "The colours pages would derive from these two, for a preview (admins)",
            "security": _SIGNED_IN,
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                            "description": "#rrggbb; left out: the default"}
                           for name in ("primary_colour", "accent_colour")],
            "responses": {"200": {"description": "The palette", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"palette": {"$ref": "#/components/schemas/Palette"}}}}}},
                          "400": _error("Not a colour"), "401": _error("Not signed in"),
                          "403": _error("Not an admin")}}},
        "/api/admin/branding/{kind}": {
            "post": {"summary": "Upload the logo or the favicon, as the multipart form field named logo or favicon "
                                "(admins)",
                     "description": "PNG, JPEG, WebP, SVG (without scripts) or ICO, judged by the bytes; at most "
                                    "256 KiB. Audited as branding_image.",
                     "security": _SIGNED_IN, "parameters": [_BRANDING_IMAGE],
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "properties": {kind: {"type": "string", "format": "binary"}
                                                          for kind in ("logo", "favicon")}}}}},
                     "responses": {"200": _ok("Saved", "Branding"),
                                   "400": _error("No such form field, or not an accepted picture"),
                                   "401": _error("Not signed in"),
                                   "403": _error("Not an admin, or missing CSRF token"),
                                   "404": _error("Neither logo nor favicon"), "413": _error("Larger than 256 KiB")}},
            "delete": {"summary": "Remove the logo, or the favicon (then the default one shows) (admins)",
                       "security": _SIGNED_IN, "parameters": [_BRANDING_IMAGE],
                       "responses": {"200": _ok("Removed (audited as branding_image_remove)", "Branding"),
                                     "401": _error("Not signed in"),
                                     "403": _error("Not an admin, or missing CSRF token"),
                                     "404": _error("Neither logo nor favicon")}}},
        "/api/files/{space}": {"get": {
            "summary": "A file space: may you change it, its quota and how much of it is used",
            "security": _SIGNED_IN, "parameters": [_SPACE],
            "responses": {"200": _ok("The space", "FileSpace"), **_FILE_ERRORS}}},
        "/api/files/{space}/list": {"get": {
            "summary": "What a folder holds (links are shown, never followed)", "security": _SIGNED_IN,
            "parameters": [_SPACE, _path("The folder; empty or left out for the root.", required=False)],
            "responses": {"200": _ok("The folder", "FileList"), **_FILE_ERRORS, **_LONG_URL}}},
        "/api/files/{space}/download": {"get": {
            "summary": "Download a file (as an attachment, application/octet-stream)", "security": _SIGNED_IN,
            "parameters": [_SPACE, _path("The file.")],
            "responses": {"200": {"description": "The file's bytes", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
                          "409": _error("A folder, or the file changed while it was opened"), **_FILE_ERRORS,
                          **_LONG_URL}}},
        "/api/files/{space}/upload": {"post": {
            "summary": "Upload files into a folder, streamed to disk; all are saved or none",
            "security": _SIGNED_IN,
            "parameters": [_SPACE, _path("The folder; empty or left out for the root.", required=False),
                           {"name": "replace", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]},
                            "description": "true: replace files of the same name (otherwise 409)"}],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {"files": {"type": "array", "items": {
                    "type": "string", "format": "binary"}}}}}}},
            "responses": {"201": _ok("Saved", "Uploaded"), **_FILE_CHANGE_ERRORS, **_LONG_URL,
                          "413": _error("A file is larger than the size limit, or the upload than the quota"),
                          "507": _error("The upload does not fit in the space's quota, or the disk is full")}}},
        "/api/files/{space}/folder": _file_change("Make a folder", "FilePath", "Made", "201"),
        "/api/files/{space}/rename": _file_change("Rename a file or folder in place", "FileRename", "Its new path"),
        "/api/files/{space}/move": _file_change("Move a file or folder into another folder", "FileMove",
                                                "Its new path"),
        "/api/files/{space}/delete": _file_change("Delete a file, a link or a folder with all it holds",
                                                  "FilePath", "What was deleted"),
        "/api/teacher/groups": {"get": {
            "summary": "The groups you manage: a teacher's own groups, every group for admins", "security": _SIGNED_IN,
            "responses": {"200": _ok("The groups", "TeacherGroupList"), **_TEACHER_ERRORS}}},
        "/api/teacher/groups/{group_id}/members": {"get": {
            "summary": "The people in one of your groups", "security": _SIGNED_IN, "parameters": [_GROUP_ID],
            "responses": {"200": _ok("Its members", "TeacherMemberList"), **_TEACHER_GROUP_ERRORS}}},
        "/api/teacher/groups/{group_id}/desktops": {"get": {
            "summary": "The classroom: the running desktops in one of your groups you may watch (a teacher: "
                       "the students')", "security": _SIGNED_IN, "parameters": [_GROUP_ID],
            "responses": {"200": _ok("The running desktops", "ClassroomDesktopList"), **_TEACHER_GROUP_ERRORS}}},
        "/api/teacher/desktops/{desktop_id}/thumbnail": {"get": {
            "summary": "A small picture of a desktop's screen (PNG, at most 400 x 250), a few seconds old at most",
            "description": "For desktops you may watch. While its pictures are fetched, the desktop counts as "
                           "watched (its owner's viewer says so).",
            "security": _SIGNED_IN,
            "parameters": [_id("desktop_id", "The desktop's id")],
            "responses": {"200": {"description": "The picture",
                                  "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                          **_TEACHER_ERRORS, "404": _error("No such desktop, or not one you may watch"),
                          "409": _error("The desktop is not running"),
                          "502": _error("The desktop's screen could not be read")}}},
        "/api/teacher/desktop-types": {"get": {
            "summary": "The desktop types you may assign, and whether each is still open to everyone",
            "security": _SIGNED_IN,
            "responses": {"200": _ok("The enabled types", "AssignableTypeList"), **_TEACHER_ERRORS}}},
        "/api/teacher/assignments": {
            "get": {"summary": "The assignments you manage", "security": _SIGNED_IN,
                    "parameters": [{"name": "group_id", "in": "query", "schema": _WHOLE_ID,
                                    "description": "Only those of this group and of its members (a whole number "
                                                   "that is no group's id: 404)"}],
                    "responses": {"200": _ok("The assignments", "AssignmentList"), **_TEACHER_GROUP_ERRORS,
                                  "400": _error("group_id not a whole number")}},
            "post": {"summary": "Assign a desktop type to one of your groups or to one person in them; audited",
                     "description": "Once a type has an assignment, only those it is assigned to (and admins) may "
                                    "start it. With a folder, the folder appears read-only in their desktops' "
                                    "homes (from their next start); fill it as the file space `space`.",
                     "security": _SIGNED_IN,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "$ref": "#/components/schemas/NewAssignment"}}}},
                     "responses": {"201": _ok("Assigned", "Assignment"), **_TEACHER_ERRORS,
                                   "400": _error("A bad field (the message names it)"),
                                   "403": _error("Not a teacher or admin, not your group or student, or missing "
                                                 "CSRF token"),
                                   "404": _error("No such desktop type, group or person"),
                                   "409": _error("The type is assigned to them already")}}},
        "/api/teacher/assignments/{assignment_id}": {"delete": {
            "summary": "Remove an assignment you manage; audited (its folder's files are deleted)",
            "security": _SIGNED_IN,
            "parameters": [_id("assignment_id", "The assignment's id", _WHOLE_ID)],
            "responses": {"200": _ok("Removed", "RemovedAssignment"), **_TEACHER_ERRORS,
                          "403": _error("Not a teacher or admin, not yours, or missing CSRF token"),
                          "404": _error("No such assignment")}}},
    },
    "components": {
        "securitySchemes": {
            "cookie": {"type": "apiKey", "in": "cookie", "name": "deskbroker_session"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "sessionHeader": {"type": "apiKey", "in": "header", "name": "X-Session-ID"},
            "sessionQuery": {"type": "apiKey", "in": "query", "name": "session_id"},
        },
        "schemas": {
            "ConnectRequest": {"type": "object", "properties": {
                "protocol": {"type": "string", "enum": ["guacamole", "novnc"], "default": "guacamole"},
                "mode": {"type": "string", "enum": ["control", "view"], "default": "control"}}},
            "ConnectAnswer": {"type": "object", "required": ["protocol", "expires_in"], "properties": {
                "protocol": {"type": "string", "enum": ["guacamole", "novnc"]},
                "tunnel_url": {"type": "string"}, "token": {"type": "string"},
                "websockify_url": {"type": "string"}, "password": {"type": "string"},
                "expires_in": {"type": "integer"}}},
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Status": {"type": "object", "required": ["status"],
                       "properties": {"status": {"type": "string"}, "reason": {"type": "string"}}},
            "LocalLogin": {"type": "object", "required": ["username", "password"],
                           "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 64},
                                          "password": {"type": "string", "minLength": 1, "maxLength": 1024}}},
            "Group": {"type": "object", "properties": {"key": {"type": "string"}, "name": {"type": "string"}}},
            "User": {"type": "object", "properties": {
                "id": {"type": "integer"}, "username": {"type": "string"}, "display_name": {"type": "string"},
                "email": {"type": "string"}, "auth_source": {"type": "string", "enum": ["oidc", "local"]},
                "roles": {"type": "array", "items": {"type": "string", "enum": ["admin", "teacher"]}},
                "groups": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}},
                "language": {"type": "string", "enum": list(LANGUAGES), "nullable": True,
                             "description": "picked with the language toggle; null: never picked (desktops "
                                            "then speak their image's language, German)"}}},
            "Session": {"type": "object", "required": ["authenticated", "user", "expires_at", "csrf_token"],
                        "properties": {"authenticated": {"type": "boolean"},
                                       "user": {"$ref": "#/components/schemas/User"},
                                       "expires_at": {"type": "string", "format": "date-time"},
                                       "csrf_token": {"type": "string"}}},
            "Localized": {"type": "object", "properties": {"de": {"type": "string"}, "en": {"type": "string"}}},
            "Desktop": {"type": "object", "properties": {
                "id": {"type": "string"}, "desktop_type": {"type": "string"},
                "title": {"$ref": "#/components/schemas/Localized"},
                "state": {"type": "string", "enum": list(_STATES)},
                "reason": {"type": "string", "description": "Why it is in this state (errors, idle stops), for people"},
                "owner": {"type": "string", "nullable": True}, "container_id": {"type": "string", "nullable": True},
                **{name: {"type": "string", "format": "date-time", "nullable": True}
                   for name in ("created_at", "started_at", "stopped_at", "last_activity_at")},
                "watched": {"type": "boolean", "description": "a teacher or admin is watching it right now"},
                "egress": {"type": "string", "enum": ["none", "internet", "proxy"], "description": "what it reaches beyond its screen"},
                "folders_pending": {"type": "array", "items": {"type": "string"},
                                    "description": "assignment folders its owner now has that this running "
                                                   "desktop gets with its next start ([] unless running)"}}},
            "DesktopType": {"type": "object", "properties": {
                "id": {"type": "string"}, "title": {"$ref": "#/components/schemas/Localized"},
                "description": {"$ref": "#/components/schemas/Localized"}, "icon": {"type": "string"},
                "egress": {"type": "string", "enum": ["none", "internet", "proxy"]}}},
            "DesktopList": {"type": "object", "properties": {
                "desktops": {"type": "array", "items": {"$ref": "#/components/schemas/Desktop"}},
                "desktop_types": {"type": "array", "items": {"$ref": "#/components/schemas/DesktopType"}}}},
            "AdminDesktopList": {"type": "object", "properties": {
                "desktops": {"type": "array", "items": {"$ref": "#/components/schemas/Desktop"}}}},
            "Removed": {"type": "object", "properties": {"removed": {"type": "string"}}},
            "AdminStats": {"type": "object", "properties": {
                "total": {"type": "integer", "description": "desktops in any state, pool ones too"},
                "running": {"type": "integer"},
                "active_users": {"type": "integer", "description": "people with a desktop starting or running"},
                "live_connections": {"type": "integer"},
                "states": {"type": "object", "additionalProperties": {"type": "integer"},
                           "description": "desktops per state (states without any left out)"},
                "per_type": {"type": "array", "items": {"type": "object", "properties": {
                    "desktop_type": {"type": "string"}, "total": {"type": "integer"}, "running": {"type": "integer"},
                    "live_connections": {"type": "integer"}}}}}},
            "DesktopTypeChange": {"type": "object", "description": "Other fields are refused (400).", "properties": {
                "title": {"$ref": "#/components/schemas/Localized"},
                "description": {"$ref": "#/components/schemas/Localized"},
                "enabled": {"type": "boolean"},
                "image": {"type": "string", "description": "only for types an admin made"},
                "vnc_port": {"type": "integer", "minimum": 1, "maximum": 65535,
                             "description": "only for types an admin made"},
                "memory_mb": {"type": "integer", "minimum": 64, "maximum": 262144},
                "cpus": {"type": "number", "minimum": 0.1, "maximum": 256},
                "pids_limit": {"type": "integer", "minimum": 64, "maximum": 65536},
                "shm_size_mb": {"type": "integer", "minimum": 1, "maximum": 65536, "nullable": True},
                "max_running": {"type": "integer", "minimum": 1, "maximum": 100000, "nullable": True,
                                "description": "null: no limit for this type"},
                "egress": {"type": "string", "enum": ["none", "internet", "proxy"],
                           "description": "what its desktops reach: nothing, public addresses, or only the proxy "
                                          "(DESKBROKER_EGRESS_PROXY); applies from each desktop's next start"}}},
            "NewDesktopType": {"allOf": [{"$ref": "#/components/schemas/DesktopTypeChange"}, {
                "type": "object", "required": ["id", "image", "title"], "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}}]},
            "AdminDesktopType": {"type": "object", "properties": {
                "id": {"type": "string"}, "source": {"type": "string", "enum": ["image", "admin"]},
                "enabled": {"type": "boolean"}, "image": {"type": "string"},
                "title": {"$ref": "#/components/schemas/Localized"},
                "description": {"$ref": "#/components/schemas/Localized"},
                "icon": {"type": "string", "description": "a data: URL, or an icon name from the image"},
                "vnc_port": {"type": "integer"}, "memory_mb": {"type": "integer"}, "cpus": {"type": "number"},
                "pids_limit": {"type": "integer"}, "shm_size_mb": {"type": "integer", "nullable": True},
                "max_running": {"type": "integer", "nullable": True}, "egress": {"type": "string", "enum": ["none", "internet", "proxy"]},
                "admin_fields": {"type": "array", "items": {"type": "string"},
                                 "description": "fields an admin changed; the image's labels no longer set them"},
                "desktops": {"type": "integer", "description": "how many desktops of this type there are"}}},
            "AdminDesktopTypeList": {"type": "object", "properties": {"desktop_types": {
                "type": "array", "items": {"$ref": "#/components/schemas/AdminDesktopType"}}}},
            "DeletedDesktopType": {"type": "object", "properties": {"deleted": {"type": "string"}}},
            "StopAll": {"type": "object", "properties": {"stopped": {"type": "integer"},
                                                         "problems": {"type": "array", "items": {"type": "string"}}}},
            "Connection": {"type": "object", "properties": {
                "id": {"type": "string"}, "user": {"type": "string", "nullable": True},
                "user_id": {"type": "integer", "nullable": True}, "desktop_id": {"type": "string", "nullable": True},
                "desktop_type": {"type": "string", "nullable": True},
                "mode": {"type": "string", "enum": ["control", "view"]}, "protocol": {"type": "string"},
                "live": {"type": "boolean"},
                **{name: {"type": "string", "format": "date-time", "nullable": True}
                   for name in ("started_at", "ended_at", "kill_requested_at")},
                "bytes_to_client": {"type": "integer"}, "bytes_from_client": {"type": "integer"},
                "end_reason": {"type": "string"}}},
            "ConnectionList": _listing("connections", "Connection"),
            "AuditEvent": {"type": "object", "properties": {
                "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string"}, "actor_id": {"type": "integer", "nullable": True},
                "action": {"type": "string"}, "target": {"type": "string"}, "ip": {"type": "string"},
                "details": {"type": "object"}}},
            "AuditList": _listing("events", "AuditEvent"),
            "AdminUser": {"allOf": [{"$ref": "#/components/schemas/User"}, {"type": "object", "properties": {
                "disabled": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "last_login_at": {"type": "string", "format": "date-time", "nullable": True},
                "desktops": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"}, "desktop_type": {"type": "string"},
                    "state": {"type": "string"},
                    "last_activity_at": {"type": "string", "format": "date-time", "nullable": True}}}}}}]},
            "AdminUserList": _listing("users", "AdminUser"),
            "FileSpace": {"type": "object", "properties": {
                "space": {"type": "string"}, "writable": {"type": "boolean"},
                "title": {"type": "string", "description": "an assignment folder's name; empty for the others"},
                "quota": {"type": "integer", "description": "bytes uploads may fill the space to"},
                "used": {"type": "integer", "description": "bytes in its files (walked at most every 30 s)"},
                "used_complete": {"type": "boolean", "description": "false: the count stopped at its limit of "
                                  "entries or time, so `used` is a lower bound"},
                "max_file_size": {"type": "integer", "description": "largest file an upload may bring, bytes"}}},
            "FileEntry": {"type": "object", "properties": {
                "name": {"type": "string"},
                "type": {"type": "string", "enum": ["file", "folder", "link", "other"]},
                "size": {"type": "integer"}, "modified": {"type": "string", "format": "date-time"}}},
            "FileList": {"type": "object", "properties": {
                "space": {"type": "string"}, "path": {"type": "string"},
                "entries": {"type": "array", "items": {"$ref": "#/components/schemas/FileEntry"}},
                "complete": {"type": "boolean", "description": "false: the folder holds more entries than the "
                             "listing limit; those beyond it are left out"}}},
            "Uploaded": {"type": "object", "properties": {"uploaded": {"type": "array", "items": {
                "type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}}}},
            "FilePath": {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
            "FileRename": {"type": "object", "required": ["path", "name"], "properties": {
                "path": {"type": "string"}, "name": {"type": "string", "maxLength": 255}}},
            "FileMove": {"type": "object", "required": ["path", "to"], "properties": {
                "path": {"type": "string"}, "to": {"type": "string", "description": "the folder to move it into"}}},
            "Palette": {"type": "object", "description": "CSS custom properties (names without the leading --) "
                        "served in /branding.css: brand, brand-on (black or white, readable on brand), brand-tint, "
                        "brand-ink (readable on light pages), brand-glow (readable on the dark viewer), brand-accent, "
                        "brand-accent-on", "additionalProperties": {"type": "string"}},
            "Branding": {"type": "object", "properties": {
                "app_name": {"type": "string"}, "primary_colour": {"type": "string"},
                "accent_colour": {"type": "string"},
                "logo_url": {"type": "string", "nullable": True, "description": "null: no logo"},
                "favicon_url": {"type": "string"}, "stylesheet_url": {"type": "string"},
                "custom_favicon": {"type": "boolean", "description": "false: the default favicon (the name's initial)"},
                "palette": {"$ref": "#/components/schemas/Palette"},
                "version": {"type": "string", "description": "changes with every change; the URLs carry it"},
                "updated_at": {"type": "string", "format": "date-time", "nullable": True},
                "max_image_bytes": {"type": "integer"}}},
            "BrandingChange": {"type": "object", "additionalProperties": False, "properties": {
                "app_name": {"type": "string", "maxLength": 60, "nullable": True},
                "primary_colour": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "nullable": True},
                "accent_colour": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "nullable": True}}},
            "Person": {"type": "object", "properties": {
                "id": {"type": "integer"}, "username": {"type": "string"}, "display_name": {"type": "string"}}},
            "TeacherGroupList": {"type": "object", "properties": {"groups": {"type": "array", "items": {
                "type": "object", "properties": {"id": {"type": "integer"}, "key": {"type": "string"},
                                                 "name": {"type": "string"}, "members": {"type": "integer"}}}}}},
            "TeacherMemberList": {"type": "object", "properties": {
                "members": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}},
            "ClassroomDesktopList": {"type": "object", "properties": {"desktops": {"type": "array", "items": {
                "type": "object", "properties": {
                    "id": {"type": "string"}, "desktop_type": {"type": "string"},
                    "title": {"$ref": "#/components/schemas/Localized"},
                    "owner": {"$ref": "#/components/schemas/Person"},
                    "started_at": {"type": "string", "format": "date-time", "nullable": True},
                    "watched": {"type": "boolean"}}}}}},
            "AssignableTypeList": {"type": "object", "properties": {"desktop_types": {"type": "array", "items": {
                "allOf": [{"$ref": "#/components/schemas/DesktopType"}, {"type": "object", "properties": {
                    "open": {"type": "boolean", "description": "no assignment yet: everyone may start it"}}}]}}}},
            "NewAssignment": {"type": "object", "required": ["desktop_type"], "properties": {
                "desktop_type": {"type": "string", "description": "its id (one no type can have: 404)"},
                "group_id": {**_WHOLE_ID, "description": "the group; or user_id, not both (a whole number that is "
                                                         "no group's id: 404; not a whole number: 400)"},
                "user_id": {**_WHOLE_ID, "description": "one person (likewise)"},
                "folder": {"type": "string", "maxLength": 64, "nullable": True,
                           "description": "a folder name for teaching material in their homes (no '/', not "
                                          "starting with '.')"}}},
            "Assignment": {"type": "object", "properties": {
                "id": {"type": "integer"}, "desktop_type": {"type": "string"},
                "title": {"$ref": "#/components/schemas/Localized"},
                "group": {"type": "object", "nullable": True, "properties": {
                    "id": {"type": "integer"}, "key": {"type": "string"}, "name": {"type": "string"}}},
                "user": {"allOf": [{"$ref": "#/components/schemas/Person"}], "nullable": True},
                "folder": {"type": "string", "nullable": True},
                "space": {"type": "string", "nullable": True, "description": "the folder's file space"},
                "created_at": {"type": "string", "format": "date-time"}}},
            "AssignmentList": {"type": "object", "properties": {
                "assignments": {"type": "array", "items": {"$ref": "#/components/schemas/Assignment"}}}},
            "RemovedAssignment": {"type": "object", "properties": {"removed": {"type": "integer"}}},
            "NewSession": {"allOf": [{"$ref": "#/components/schemas/Session"},
                                     {"type": "object", "required": ["session_token"],
                                      "properties": {"session_token": {"type": "string"}}}]},
        },
    },
}


@bp.get("/api/openapi.json")
def openapi_json():
    return jsonify(SPEC)
