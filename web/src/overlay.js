// The connection status: a short word in the toolbar (a polite live region) and, while not
// connected, an overlay over the desktop saying what is going on and what can be done.
// The viewer's root element carries the state in data-state for styles and tests.
import { setText } from "./i18n.js";

const SECOND = 1000;

export function createStatus({ root, indicator, overlay }) {
  const message = overlay.querySelector(".overlay-message");
  const detail = overlay.querySelector(".overlay-detail");
  const actions = overlay.querySelector(".overlay-actions");
  let countdown = null;

  function show(state, key, params) {
    clearInterval(countdown);
    root.dataset.state = state;
    setText(indicator, `state.${state}`);
    overlay.hidden = state === "connected";
    setText(message, key, params);
    // An error is announced at once; progress is left to the toolbar's live region.
    if (state === "error") message.setAttribute("role", "alert");
    else message.removeAttribute("role");
    setDetail(null);
    actions.replaceChildren();
  }

  function setDetail(key, params) {
    detail.hidden = !key;
    if (key) setText(detail, key, params);
  }

  function addAction(key, target) {
    const control = document.createElement(typeof target === "string" ? "a" : "button");
    control.className = "button";
    if (typeof target === "string") control.href = target;
    else {
      control.type = "button";
      control.addEventListener("click", target);
    }
    setText(control, key);
    actions.append(control);
    return control;
  }

  return {
    /** The desktop is being started for this viewer; `step` is how far (launch.step.*). */
    starting(step) {
      if (root.dataset.state !== "starting") show("starting", "overlay.starting");
      root.dataset.step = step;
      setDetail(`launch.step.${step}`);
    },

    connecting() {
      show("connecting", "overlay.connecting");
    },

    connected() {
      show("connected", "state.connected");
    },

    /** Waiting `delay` ms before the next attempt because of `reasonKey`; `onNow` skips the wait. */
    reconnecting(delay, reasonKey, onNow) {
      const end = Date.now() + delay;
      const seconds = () => Math.max(0, Math.ceil((end - Date.now()) / SECOND));
      show("reconnecting", "overlay.reconnecting", { seconds: seconds() });
      setDetail(reasonKey);
      addAction("action.reconnectNow", onNow);
      countdown = setInterval(() => setText(message, "overlay.reconnecting", { seconds: seconds() }), SECOND);
    },

    /** Stopped for `key`; `retry` (optional) starts over, `signIn` offers signing in instead. */
    error(key, { detailKey = null, detailParams = {}, retry = null, signIn = false } = {}) {
      show("error", key);
      setDetail(detailKey, detailParams);
      if (signIn) addAction("action.signIn", "/").focus();
      else if (retry) addAction("action.retry", retry).focus();
      addAction("action.home", "/");
    },
  };
}
