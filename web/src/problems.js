// Why a connection failed, as a string key for people and whether trying again can help.
// Every retry asks the broker's /connect first, and that answer is the authority: a stopped
// desktop or a revoked right shows up there as a permanent 404/409, so a tunnel error that
// is merely ambiguous (e.g. "upstream not found") counts as transient.

export const transient = (key) => ({ key, permanent: false });
export const permanent = (key, options = {}) => ({ key, permanent: true, ...options });

/** A refused or failed /connect (an ApiError). */
export function problemFromApi(error) {
  switch (error.status) {
    case 0: return transient("error.offline");
    case 400: return permanent("error.badRequest");
    case 401: return error.code === "account_disabled"
      ? permanent("error.accountDisabled") : permanent("error.signedOut", { signIn: true });
    // Locked by a teacher (noVNC only: its input would pass the broker): tried again until unlocked.
    case 403: return error.code === "screen_locked" ? transient("error.screenLocked") : permanent("error.forbidden");
    case 404: return permanent("error.notFound");
    case 409: return error.code === "desktop_not_running" ? permanent("error.notRunning") : transient("error.busy");
    case 429: return transient("error.busy");
    default: return transient(error.status >= 500 ? "error.server" : "error.upstream");
  }
}

// Guacamole protocol status codes (guacamole-common-js Guacamole.Status.Code).
const GUACAMOLE_STATUS = {
  0x0100: permanent("error.unsupported"),       // UNSUPPORTED
  0x0200: transient("error.server"),            // SERVER_ERROR
  0x0201: transient("error.busy"),              // SERVER_BUSY
  0x0202: transient("error.timeout"),           // UPSTREAM_TIMEOUT
  0x0203: transient("error.upstream"),          // UPSTREAM_ERROR
  0x0204: transient("error.unreachable"),       // RESOURCE_NOT_FOUND
  0x0205: transient("error.upstream"),          // RESOURCE_CONFLICT
  0x0206: transient("error.ended"),             // RESOURCE_CLOSED
  0x0207: transient("error.unreachable"),       // UPSTREAM_NOT_FOUND (also: VNC password refused)
  0x0208: transient("error.busy"),              // UPSTREAM_UNAVAILABLE
  0x0209: permanent("error.sessionConflict"),   // SESSION_CONFLICT
  0x020A: permanent("error.sessionTimeout"),    // SESSION_TIMEOUT
  0x020B: permanent("error.sessionClosed"),     // SESSION_CLOSED
  0x0300: permanent("error.badRequest"),        // CLIENT_BAD_REQUEST
  0x0301: transient("error.tokenExpired"),      // CLIENT_UNAUTHORIZED: the next attempt gets a new token
  0x0303: permanent("error.forbidden"),         // CLIENT_FORBIDDEN
  0x0308: transient("error.timeout"),           // CLIENT_TIMEOUT
  0x030D: transient("error.server"),            // CLIENT_OVERRUN
  0x030F: permanent("error.unsupported"),       // CLIENT_BAD_TYPE
  0x031D: permanent("error.tooMany"),           // CLIENT_TOO_MANY
};

// Why the broker ended a connection (SESSION_CLOSED, its message as broker/tunnels/ending.py sends it):
// access ended, so trying again cannot help.
const ACCESS_ENDED = {
  "An administrator ended this connection.": permanent("error.sessionClosed"),
  "Your account was disabled.": permanent("error.accountDisabled"),
  "You were signed out.": permanent("error.endedSignedOut", { signIn: true }),
  "The desktop was stopped.": permanent("error.desktopStopped"),
  "You may no longer watch this desktop.": permanent("error.watchRevoked"),
  "The help with control was ended.": permanent("error.helpEnded"),
  "The demo ended.": permanent("error.demoEnded"),
};

/** A Guacamole.Status from an `error` instruction or a closed tunnel. */
export function problemFromGuacamole(status) {
  if (status.code === 0x020B && ACCESS_ENDED[status.message]) return ACCESS_ENDED[status.message];
  return GUACAMOLE_STATUS[status.code] ?? transient("error.upstream");
}

/** The connection ended without an error (the server hung up or the desktop went away). */
export const ENDED = transient("error.ended");
