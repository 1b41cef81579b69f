// A lesson ends: the broker stops the student's desktop at `stops_at` (in /api/events). Until then the
// viewer and the dashboard say so, counting down, so nobody loses work by surprise.
import { t } from "./i18n.js";

/** "0:42" for 42 seconds. */
export function countdownText(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/**
 * Keeps `element` (an empty, hidden banner) saying how long until `stops_at`: the message is an alert
 * once, the ticking time a timer (not read out every second). `update(stopsAt)` with the desktop's
 * `stops_at` (null: no stop due) shows, moves or hides it.
 */
export function createLessonCountdown(element) {
  let timer = null;
  let stopsAt = null;
  const message = document.createElement("span");
  const time = document.createElement("span");
  message.setAttribute("role", "alert");
  message.className = "lesson-end-message";
  time.setAttribute("role", "timer");
  time.className = "lesson-end-time";
  element.replaceChildren(message, " ", time);
  const tick = () => {
    const left = (stopsAt - Date.now()) / 1000;
    time.textContent = countdownText(left);
    element.dataset.seconds = String(Math.max(0, Math.ceil(left)));
  };
  return {
    update(value) {
      const next = value ? Date.parse(value) : null;
      const text = next ? t("lesson.ending") : ""; // again each time: the language may have changed
      if (message.textContent !== text) message.textContent = text;
      if (next === stopsAt) return;
      stopsAt = next;
      clearInterval(timer);
      timer = null;
      element.hidden = !stopsAt;
      if (!stopsAt) return;
      tick();
      timer = setInterval(tick, 1000);
    },
  };
}
