"""The OpenAPI document of the JSON API, served at /api/openapi.json.

A test compares it with the app's routes in both directions, so a route cannot be added
or removed without this document following.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from broker import __version__

bp = Blueprint("openapi", __name__)


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_SIGNED_IN = [{"cookie": []}, {"bearer": []}, {"sessionHeader": []}, {"sessionQuery": []}]

_DESKTOP_TYPE = {"name": "desktop_type", "in": "query", "schema": {"type": "string"},
                 "description": "Which of your desktops (a desktop type id); may also come as JSON "
                                "`{\"desktop_type\": …}`. Optional when you have only one (active) desktop."}
_DESKTOP_ID = {"name": "desktop_id", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "The desktop's id or its container id"}
_DESKTOP_ERRORS = {"401": _error("Not signed in"), "403": _error("Missing CSRF token"),
                   "404": _error("No such desktop"), "409": _error("The desktop is busy starting or stopping"),
                   "502": _error("The container engine refused"), "503": _error("The container engine is down")}
_ADMIN_ERRORS = {**_DESKTOP_ERRORS, "403": _error("Not an admin, or missing CSRF token")}
_SPACE = {"name": "space", "in": "path", "required": True, "schema": {"type": "string", "enum": ["home", "public"]},
          "description": "home: your own home (what your desktops see at /home/user); public: shared, readable "
                         "by everyone, writable by teachers and admins (desktops see it read-only at /srv/public)"}


def _path(description: str, required: bool = True) -> dict:
    return {"name": "path", "in": "query", "required": required, "schema": {"type": "string", "maxLength": 4096},
            "description": description + " Relative to the space's root, names joined by '/' (e.g. docs/a.txt)."}


_FILE_ERRORS = {"400": _error("Bad path or name (.., absolute, NUL, backslash, too long), a link, or not a file"),
                "401": _error("Not signed in"), "404": _error("No such space, file or folder"),
                "503": _error("The volumes cannot be reached (engine down, or the broker not on its host)")}
_FILE_CHANGE_ERRORS = {**_FILE_ERRORS, "403": _error("Public space and not a teacher or admin, or missing CSRF token"),
                       "409": _error("Something of that name exists already")}


_PAGING = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
           {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}]
_ADMIN_READ_ERRORS = {"400": _error("Bad limit, offset or filter"), "401": _error("Not signed in"),
                      "403": _error("Not an admin")}


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
                          "404": _error("Single sign-on is not configured"),
                          "502": _error("Provider unreachable")}}},
        "/api/auth/authorize": {"get": {
            "summary": "The provider's callback", "security": [],
            "parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                           for name in ("code", "state", "error", "error_description")],
            "responses": {"302": {"description": "Signed in; session cookie set"},
                          "400": _error("Bad, replayed or refused callback"),
                          "403": _error("Account disabled"),
                          "404": _error("Single sign-on is not configured"),
                          "502": _error("Provider unreachable")}}},
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
            "parameters": [{"name": "desktop_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/ConnectRequest"}}}},
            "responses": {"200": _ok("How to connect", "ConnectAnswer"), "400": _error("Bad mode or protocol"),
                          "401": _error("Not signed in"), "403": _error("noVNC for someone else's desktop"),
                          "404": _error("No such desktop (or not yours), or noVNC not set up"),
                          "409": _error("The desktop is not running")}}},
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
            "summary": "Every desktop (admins)", "security": _SIGNED_IN,
            "responses": {"200": _ok("All desktops, pool ones with owner null", "AdminDesktopList"),
                          "401": _error("Not signed in"), "403": _error("Not an admin")}}},
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
                           "`An administrator ended this connection.` (521) and the connection's end_reason "
                           "becomes `ended by an administrator`. Audited as admin_connection_kill.",
            "security": _SIGNED_IN,
            "parameters": [{"name": "connection_id", "in": "path", "required": True, "schema": {"type": "string"}}],
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
        "/api/files/{space}": {"get": {
            "summary": "A file space: may you change it, its quota and how much of it is used",
            "security": _SIGNED_IN, "parameters": [_SPACE],
            "responses": {"200": _ok("The space", "FileSpace"), **_FILE_ERRORS}}},
        "/api/files/{space}/list": {"get": {
            "summary": "What a folder holds (links are shown, never followed)", "security": _SIGNED_IN,
            "parameters": [_SPACE, _path("The folder; empty or left out for the root.", required=False)],
            "responses": {"200": _ok("The folder", "FileList"), **_FILE_ERRORS}}},
        "/api/files/{space}/download": {"get": {
            "summary": "Download a file (as an attachment, application/octet-stream)", "security": _SIGNED_IN,
            "parameters": [_SPACE, _path("The file.")],
            "responses": {"200": {"description": "The file's bytes", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
                          "409": _error("A folder, or the file changed while it was opened"), **_FILE_ERRORS}}},
        "/api/files/{space}/upload": {"post": {
            "summary": "Upload files into a folder, streamed to disk; all are saved or none",
            "security": _SIGNED_IN,
            "parameters": [_SPACE, _path("The folder; empty or left out for the root.", required=False),
                           {"name": "replace", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]},
                            "description": "true: replace files of the same name (otherwise 409)"}],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {"files": {"type": "array", "items": {
                    "type": "string", "format": "binary"}}}}}}},
            "responses": {"201": _ok("Saved", "Uploaded"), **_FILE_CHANGE_ERRORS,
                          "413": _error("A file is larger than the size limit, or the upload than the quota"),
                          "507": _error("The upload does not fit in the space's quota, or the disk is full")}}},
        "/api/files/{space}/folder": _file_change("Make a folder", "FilePath", "Made", "201"),
        "/api/files/{space}/rename": _file_change("Rename a file or folder in place", "FileRename", "Its new path"),
        "/api/files/{space}/move": _file_change("Move a file or folder into another folder", "FileMove",
                                                "Its new path"),
        "/api/files/{space}/delete": _file_change("Delete a file, a link or a folder with all it holds",
                                                  "FilePath", "What was deleted"),
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
                           "properties": {"username": {"type": "string", "maxLength": 64},
                                          "password": {"type": "string", "maxLength": 1024}}},
            "Group": {"type": "object", "properties": {"key": {"type": "string"}, "name": {"type": "string"}}},
            "User": {"type": "object", "properties": {
                "id": {"type": "integer"}, "username": {"type": "string"}, "display_name": {"type": "string"},
                "email": {"type": "string"}, "auth_source": {"type": "string", "enum": ["oidc", "local"]},
                "roles": {"type": "array", "items": {"type": "string", "enum": ["admin", "teacher"]}},
                "groups": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}}}},
            "Session": {"type": "object", "required": ["authenticated", "user", "expires_at", "csrf_token"],
                        "properties": {"authenticated": {"type": "boolean"},
                                       "user": {"$ref": "#/components/schemas/User"},
                                       "expires_at": {"type": "string", "format": "date-time"},
                                       "csrf_token": {"type": "string"}}},
            "Localized": {"type": "object", "properties": {"de": {"type": "string"}, "en": {"type": "string"}}},
            "Desktop": {"type": "object", "properties": {
                "id": {"type": "string"}, "desktop_type": {"type": "string"},
                "title": {"$ref": "#/components/schemas/Localized"},
                "state": {"type": "string",
                          "enum": ["creating", "starting", "running", "stopping", "stopped", "error"]},
                "reason": {"type": "string", "description": "Why it is in this state (errors, idle stops), for people"},
                "owner": {"type": "string", "nullable": True}, "container_id": {"type": "string", "nullable": True},
                **{name: {"type": "string", "format": "date-time", "nullable": True}
                   for name in ("created_at", "started_at", "stopped_at", "last_activity_at")}}},
            "DesktopType": {"type": "object", "properties": {
                "id": {"type": "string"}, "title": {"$ref": "#/components/schemas/Localized"},
                "description": {"$ref": "#/components/schemas/Localized"}, "icon": {"type": "string"}}},
            "DesktopList": {"type": "object", "properties": {
                "desktops": {"type": "array", "items": {"$ref": "#/components/schemas/Desktop"}},
                "desktop_types": {"type": "array", "items": {"$ref": "#/components/schemas/DesktopType"}}}},
            "AdminDesktopList": {"type": "object", "properties": {
                "desktops": {"type": "array", "items": {"$ref": "#/components/schemas/Desktop"}}}},
            "Removed": {"type": "object", "properties": {"removed": {"type": "string"}}},
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
                "quota": {"type": "integer", "description": "bytes uploads may fill the space to"},
                "used": {"type": "integer", "description": "bytes in its files"},
                "max_file_size": {"type": "integer", "description": "largest file an upload may bring, bytes"}}},
            "FileEntry": {"type": "object", "properties": {
                "name": {"type": "string"},
                "type": {"type": "string", "enum": ["file", "folder", "link", "other"]},
                "size": {"type": "integer"}, "modified": {"type": "string", "format": "date-time"}}},
            "FileList": {"type": "object", "properties": {
                "space": {"type": "string"}, "path": {"type": "string"},
                "entries": {"type": "array", "items": {"$ref": "#/components/schemas/FileEntry"}}}},
            "Uploaded": {"type": "object", "properties": {"uploaded": {"type": "array", "items": {
                "type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}}}},
            "FilePath": {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
            "FileRename": {"type": "object", "required": ["path", "name"], "properties": {
                "path": {"type": "string"}, "name": {"type": "string", "maxLength": 255}}},
            "FileMove": {"type": "object", "required": ["path", "to"], "properties": {
                "path": {"type": "string"}, "to": {"type": "string", "description": "the folder to move it into"}}},
            "NewSession": {"allOf": [{"$ref": "#/components/schemas/Session"},
                                     {"type": "object", "required": ["session_token"],
                                      "properties": {"session_token": {"type": "string"}}}]},
        },
    },
}


@bp.get("/api/openapi.json")
def openapi_json():
    return jsonify(SPEC)
