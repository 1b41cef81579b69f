// The broker's JSON API as the signed-in browser uses it: the session cookie travels by
// itself, and changes carry the session's CSRF token in X-CSRF-Token.

/** A refused or failed request. `status` 0 means the server was not reached at all. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// Pages that carry the token (the viewer) save the request for it.
let csrfToken = globalThis.document?.querySelector('meta[name="csrf-token"]')?.content || null;

async function send(path, options) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...options });
  } catch (error) {
    throw new ApiError(0, "offline", error.message);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, body?.error || `http_${response.status}`, body?.message);
  }
  return body;
}

export function getJson(path) {
  return send(path, { headers: { Accept: "application/json" } });
}

/** The session's CSRF token, for requests made without postJson (e.g. uploads with progress). */
export async function csrf() {
  csrfToken ??= (await getJson("/api/auth/session")).csrf_token;
  return csrfToken;
}

/** A change (POST, PATCH, DELETE …) with the CSRF token; `body` is sent as JSON, or as it is if FormData. */
export async function sendChange(method, path, body) {
  const form = body instanceof FormData;
  const attempt = async () => send(path, {
    method,
    headers: { Accept: "application/json", "X-CSRF-Token": await csrf(),
      ...(form ? {} : { "Content-Type": "application/json" }) },
    body: form ? body : JSON.stringify(body ?? {}),
  });
  try {
    return await attempt();
  } catch (error) {
    if (error.code !== "csrf_failed") throw error;
    csrfToken = null; // signed in again elsewhere in the meantime: fetch the new token once
    return attempt();
  }
}

export function postJson(path, body) {
  return sendChange("POST", path, body);
}

/** A single-use grant to open `desktopId` over `protocol` ("guacamole" | "novnc") in `mode`. */
export function requestConnection(desktopId, protocol, mode) {
  return postJson(`/api/desktops/${encodeURIComponent(desktopId)}/connect`, { protocol, mode });
}
