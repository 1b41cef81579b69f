// Why a start, stop or removal of a desktop was refused, as a string key that also says what to
// do; shared by the dashboard and the viewer that starts a desktop.
import { ApiError } from "./api.js";

export function desktopErrorKey(error) {
  if (!(error instanceof ApiError)) return "error.server";
  switch (error.code) {
    case "quota_exceeded": return "dash.err.quota";
    case "desktop_busy": return "dash.err.busy";
    case "desktop_type_not_allowed": case "unknown_desktop_type": return "dash.err.notAllowed";
    case "engine_unavailable": return "dash.err.engine";
    case "image_missing": return "dash.err.image";
    case "start_failed": case "engine_error": return "dash.err.startFailed";
    case "start_timeout": return "dash.err.timeout";
    case "no_desktop": return "dash.err.gone";
    case "not_signed_in": return "error.signedOut";
    case "offline": return "error.offline";
    default: return error.status >= 500 ? "error.server" : "error.badRequest";
  }
}

/** Whether the server's own words (the reason a start failed) help the person. */
export function reasonHelps(key) {
  return key === "dash.err.startFailed" || key === "dash.err.timeout";
}

/** Where the viewer starts a desktop of `typeId` and connects to it: one click from the dashboard. */
export function startUrl(typeId, protocol = "guacamole") {
  return `/start/${encodeURIComponent(typeId)}?protocol=${protocol}`;
}
