// The noVNC viewer: @novnc/novnc's RFB over websockify (/websockify?token=…, same origin).
import RFB from "@novnc/novnc";
import { permanent, transient } from "./problems.js";
import { startViewer } from "./viewer-page.js";

const PASSWORD_REFUSED = permanent("error.passwordRefused");

function webSocketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function createNoVncViewer({ screen, viewOnly }) {
  let rfb = null; // the open connection, if any

  function connect(grant, events) {
    const connection = new RFB(screen, webSocketUrl(grant.websockify_url), {
      credentials: { password: grant.password },
      shared: true, // never throw out another viewer of the same desktop
    });
    connection.scaleViewport = true;
    connection.resizeSession = !viewOnly; // a watcher never resizes someone else's desktop
    connection.viewOnly = viewOnly;
    connection.background = "transparent";

    let finished = false;
    let problem = null;
    connection.addEventListener("connect", () => events.connected());
    connection.addEventListener("clipboard", (event) => events.clipboard(event.detail.text));
    connection.addEventListener("securityfailure", () => { problem = PASSWORD_REFUSED; });
    connection.addEventListener("credentialsrequired", () => {
      problem = PASSWORD_REFUSED;
      connection.disconnect();
    });
    connection.addEventListener("disconnect", (event) => {
      if (rfb === connection) rfb = null;
      if (finished) return;
      finished = true;
      // Not clean: websockify refused the token, or the desktop or network went away.
      events.closed(problem ?? (event.detail.clean ? null : transient("error.unreachable")));
    });
    rfb = connection;

    return {
      close() {
        finished = true;
        connection.disconnect();
      },
      sendClipboard(text) {
        connection.clipboardPasteFrom(text);
      },
    };
  }

  return { connect, focus: () => rfb?.focus({ preventScroll: true }) };
}

startViewer(createNoVncViewer);
