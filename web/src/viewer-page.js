// The viewer page around either protocol: reads what to open from the page's data
// attributes, wires the toolbar, clipboard and status, and runs the session.
import { createClipboard } from "./clipboard.js";
import { setupDropUpload, setupFolderChoice } from "./drop-upload.js";
import { setText, translate } from "./i18n.js";
import { createStatus } from "./overlay.js";
import { ViewerSession } from "./session.js";
import { setupToolbar } from "./toolbar.js";
import { followClassroom } from "./viewer-classroom.js";

const byId = (id) => document.getElementById(id);

/**
 * `createViewer({ screen, viewOnly, keyboardButton })` makes the protocol's viewer:
 * { connect(grant, events), focus() } (see session.js for connect).
 */
export function startViewer(createViewer) {
  const root = byId("viewer");
  const { desktopId, protocol, mode } = root.dataset;
  const viewOnly = mode === "view" || mode === "demo";
  const stage = byId("stage");

  translate(document);
  setupToolbar({
    toolbar: byId("toolbar"),
    fullscreenButton: byId("fullscreen-button"),
    languageButton: byId("language-button"),
    viewOnlyBadge: byId("view-only-badge"),
    viewOnly,
  });

  followClassroom({
    desktopId,
    mode,
    elements: {
      watched: byId("watched-badge"),
      control: byId("control-badge"),
      controlText: byId("control-text"),
      endControl: byId("end-control-button"),
      shown: byId("shown-badge"),
      demo: byId("demo-badge"),
      handBack: byId("hand-back-button"),
    },
  });

  const screen = byId("screen");
  const viewer = createViewer({ screen, viewOnly, keyboardButton: byId("keyboard-button") });
  // Tab or a script focusing the screen hands the keyboard to the viewer (noVNC: its canvas).
  screen.addEventListener("focus", () => viewer.focus());
  setupDropUpload({ screen, hint: byId("drop-hint"), status: byId("drop-status"), viewOnly });
  if (!viewOnly) {
    setupFolderChoice({
      button: byId("drop-folder-button"), dialog: byId("drop-folder-dialog"), input: byId("drop-folder-input"),
    });
  }
  let session = null;
  const clipboard = createClipboard({
    panel: byId("clipboard-panel"),
    textarea: byId("clipboard-text"),
    toggle: byId("clipboard-button"),
    closeButton: byId("clipboard-close"),
    editable: !viewOnly,
    send: (text) => session.sendClipboard(text),
  });
  setText(byId("clipboard-hint"), viewOnly ? "clipboard.hintViewOnly" : "clipboard.hint");

  session = new ViewerSession({
    desktopId,
    protocol,
    mode,
    viewer,
    status: createStatus({ root, indicator: byId("state"), overlay: byId("overlay") }),
    onConnected() {
      // Take the keyboard, unless the person is busy in the toolbar or the clipboard panel.
      const active = document.activeElement;
      if (!active || active === document.body || stage.contains(active)) viewer.focus();
      clipboard.sync();
    },
    onClipboard: clipboard.received,
  });
  window.addEventListener("pagehide", () => session.stop());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) session.start(); // back from the browser's page cache
  });
  session.start();
}
