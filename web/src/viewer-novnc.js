// The noVNC viewer: @novnc/novnc's RFB over websockify (/websockify?token=…, same origin).
import RFB from "@novnc/novnc";
import { permanent, transient } from "./problems.js";
import { createTextInput } from "./text-input.js";
import { startViewer } from "./viewer-page.js";

const PASSWORD_REFUSED = permanent("error.passwordRefused");

function webSocketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/**
 * noVNC's keyboard listens on its canvas, which never receives text without key events: with the
 * focus in the text field, its keys go to the canvas as copies (the field's own input types text).
 * Keys that belong to an IME's composition or a dead key stay with the field.
 */
function passKeysTo(field, target) {
  for (const type of ["keydown", "keyup"]) {
    field.addEventListener(type, (event) => {
      const canvas = target();
      if (!canvas || event.isComposing || event.keyCode === 229 || event.key === "Dead") return;
      const copy = new KeyboardEvent(type, {
        key: event.key, code: event.code, location: event.location, repeat: event.repeat,
        keyCode: event.keyCode, which: event.which, charCode: event.charCode,
        ctrlKey: event.ctrlKey, altKey: event.altKey, shiftKey: event.shiftKey, metaKey: event.metaKey,
        modifierCapsLock: event.getModifierState("CapsLock"), modifierNumLock: event.getModifierState("NumLock"),
        modifierAltGraph: event.getModifierState("AltGraph"), bubbles: true, cancelable: true,
      });
      canvas.dispatchEvent(copy);
      if (copy.defaultPrevented) event.preventDefault();
    });
  }
}

function createNoVncViewer({ screen, viewOnly, keyboardButton }) {
  let rfb = null; // the open connection, if any
  let canvas = null; // its canvas, where noVNC's keyboard listens
  const focusCanvas = () => rfb?.focus({ preventScroll: true });
  let focusKeyboard = focusCanvas;
  if (!viewOnly) {
    const textInput = createTextInput({
      screen, keyboardButton, focusScreen: focusCanvas,
      typeKeysym: (keysym) => rfb?.sendKey(keysym, "Unidentified"),
    });
    passKeysTo(textInput.field, () => canvas);
    focusKeyboard = (touch) => rfb && textInput.focusKeyboard(touch);
  }

  function connect(grant, events) {
    const connection = new RFB(screen, webSocketUrl(grant.websockify_url), {
      credentials: { password: grant.password },
      shared: true, // never throw out another viewer of the same desktop
    });
    connection.scaleViewport = true;
    connection.resizeSession = !viewOnly; // a watcher never resizes someone else's desktop
    connection.viewOnly = viewOnly;
    connection.background = "transparent";
    connection.focusOnClick = false; // the text field takes the focus (createTextInput)
    canvas = [...screen.querySelectorAll("canvas")].at(-1); // the one this connection just added

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

  return { connect, focus: () => focusKeyboard() };
}

startViewer(createNoVncViewer);
