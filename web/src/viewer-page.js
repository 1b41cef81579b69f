// The viewer page around either protocol: reads what to open from the page's data
// attributes, wires the toolbar, clipboard and status, and runs the session.
import { renderLock, renderMessages, setupHandButton } from "./classroom-notices.js";
import { createClipboard } from "./clipboard.js";
import { setupDropUpload, setupFolderChoice } from "./drop-upload.js";
import { setText, translate } from "./i18n.js";
import { launch } from "./launch.js";
import { createLessonCountdown } from "./lesson-end.js";
import { createStatus } from "./overlay.js";
import { ViewerSession } from "./session.js";
import { setupToolbar } from "./toolbar.js";
import { followClassroom } from "./viewer-classroom.js";

const byId = (id) => document.getElementById(id);

/** The person's event stream for the whole page (each open stream costs the broker a look at the
 * database a second), or null where nothing follows it: a teacher's watching or helping viewer. */
function personsEvents(mode) {
  if (mode === "view" || mode === "help" || !("EventSource" in window)) return null;
  const source = new EventSource("/api/events");
  source.addEventListener("signed_out", () => source.close());
  return source;
}

/** The person's desktops and classroom state from the stream, to `onDesktops(list)` and
 * `onClassroom(state)` whenever they change. */
function followDesktops(source, onDesktops, onClassroom) {
  source.addEventListener("desktops", (event) => onDesktops(JSON.parse(event.data).desktops));
  source.addEventListener("classroom", (event) => onClassroom(JSON.parse(event.data)));
}

/**
 * `createViewer({ screen, viewOnly, keyboardButton, soundControls })` makes the protocol's viewer:
 * { connect(grant, events), focus() } (see session.js for connect).
 */
export function startViewer(createViewer) {
  const root = byId("viewer");
  const { desktopId, protocol, mode, startType } = root.dataset;
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

  const events = personsEvents(mode);
  followClassroom({
    desktopId,
    mode,
    source: events,
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
  const soundControls = { controls: byId("sound-controls"), muteButton: byId("mute-button"), volumeInput: byId("volume") };
  const viewer = createViewer({ screen, viewOnly, keyboardButton: byId("keyboard-button"), soundControls });
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

  const status = createStatus({ root, indicator: byId("state"), overlay: byId("overlay") });
  session = new ViewerSession({
    desktopId,
    protocol,
    mode,
    viewer,
    status,
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
    if (event.persisted && session.desktopId) session.start(); // back from the browser's page cache
  });

  // Started from the dashboard (/start/<type>): start the desktop here, then connect as usual.
  const starting = startType ? launch({
    desktopType: startType,
    status,
    onRunning(desktop) {
      session.desktopId = desktop.id;
      // A reload from here on reconnects to this desktop instead of starting it again.
      const query = new URLSearchParams({ protocol, mode });
      window.history.replaceState(null, "", `/desktops/${encodeURIComponent(desktop.id)}/view?${query}`);
      session.start();
    },
  }) : null;
  if (!viewOnly && events) {
    const recordingBadge = byId("recording-badge");
    const hand = setupHandButton(byId("hand-button"));
    // A countdown once a lesson's end will stop the desktop (`stops_at`).
    const banner = document.createElement("p");
    banner.id = "lesson-end";
    banner.className = "lesson-end";
    banner.hidden = true;
    byId("toolbar").after(banner);
    const lessonEnd = createLessonCountdown(banner);
    followDesktops(
      events,
      (desktops) => {
        starting?.progress(desktops);
        // On the owner's viewer: the mark of a recorded session.
        const desktop = desktops.find((found) => found.id === session.desktopId);
        recordingBadge.hidden = !desktop?.recorded; // watched and controlled: followClassroom
        lessonEnd.update(desktop?.stops_at);
      },
      (classroom) => {
        // The lock screen while a teacher has locked the screens, their messages, the raised hand.
        renderLock(byId("lock-screen"), classroom.lock);
        byId("locked-badge").hidden = !classroom.lock;
        root.dataset.locked = String(Boolean(classroom.lock));
        renderMessages(byId("messages"), classroom.messages);
        hand.update(classroom.hand_raised_at);
      },
    );
  }
  if (!starting) session.start();
}
