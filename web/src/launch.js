// One click to a drawn desktop: the dashboard's Start opens the viewer at /start/<type>, and
// the viewer starts the desktop itself. A small script (viewer-start.js) asks for the start
// before the viewer's bundle has loaded; /api/events tells how far the start is meanwhile; and
// the start's answer comes the moment the desktop's VNC server greets, so the connection is
// asked for and opened at once.
import { postJson } from "./api.js";
import { desktopErrorKey, reasonHelps } from "./start-errors.js";

let early = null; // the start viewer-start.js asked for, until launch() takes its answer
// Types launch() has asked for already. Both scripts load as modules, and under load the viewer's
// bundle can run before viewer-start.js: its early start would then be a second request.
const launched = new Set();

const startRequest = (desktopType) =>
  postJson(`/api/container/start?desktop_type=${encodeURIComponent(desktopType)}`, {});

/** Ask for the start now; the next launch() of the same type takes the answer. */
export function startEarly(desktopType) {
  if (launched.has(desktopType)) return;
  early = { desktopType, answer: startRequest(desktopType) };
  early.answer.catch(() => {}); // a refusal is shown by launch(), not reported as unhandled meanwhile
}

// What a desktop's state means for the start in progress (the stream's states, broker/desktops/states.py).
const STEPS = { creating: "creating", starting: "booting", running: "connecting" };

/**
 * Start the person's desktop of `desktopType`; `onRunning(desktop)` once it runs. Progress and
 * errors go to `status` (overlay.js); an error offers to try again.
 */
export function launch({ desktopType, status, onRunning }) {
  let done = false;

  async function attempt() {
    done = false;
    status.starting("requested");
    let desktop;
    launched.add(desktopType);
    try {
      const asked = early?.desktopType === desktopType ? early.answer : startRequest(desktopType);
      early = null;
      desktop = await asked;
    } catch (error) {
      done = true;
      const key = desktopErrorKey(error);
      const reason = reasonHelps(key) && error.message;
      status.error(key, {
        detailKey: reason ? "launch.failedReason" : null,
        detailParams: { reason },
        retry: key === "error.signedOut" ? null : attempt,
        signIn: key === "error.signedOut",
      });
      return;
    }
    done = true;
    onRunning(desktop);
  }

  attempt();
  return {
    /** The person's desktops from /api/events: the one being started tells how far it is. */
    progress(desktops) {
      const step = STEPS[desktops.find((found) => found.desktop_type === desktopType)?.state];
      if (!done && step) status.starting(step);
    },
  };
}
