// The viewer's toolbar: full screen, language, the view-only badge, and Ctrl+Alt+Shift to
// get from the desktop (which takes every key, Tab included) back to these controls.
import { bindLanguageToggle } from "./i18n.js";

function setupFullscreen(button, { lockKeys }) {
  if (!document.fullscreenEnabled) {
    button.hidden = true; // e.g. iPhone Safari
    return;
  }
  const update = () => button.setAttribute("aria-pressed", String(Boolean(document.fullscreenElement)));
  button.addEventListener("click", async () => {
    try {
      if (document.fullscreenElement) {
        await document.exitFullscreen();
      } else {
        await document.documentElement.requestFullscreen();
        // In full screen Chromium can hand Escape, Alt+Tab … to the desktop too.
        if (lockKeys) await navigator.keyboard?.lock?.();
      }
    } catch {
      // refused by the browser: the button just stays as it is
    }
  });
  document.addEventListener("fullscreenchange", update);
  update();
}

function bindToolbarShortcut(toolbar) {
  window.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey && event.altKey && event.shiftKey)) return;
    if (!["Control", "Alt", "Shift"].includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation(); // capture phase: the desktop never sees this key
    toolbar.querySelector("a[href], button:not([hidden])")?.focus();
  }, true);
}

export function setupToolbar({ toolbar, fullscreenButton, languageButton, viewOnlyBadge, viewOnly }) {
  setupFullscreen(fullscreenButton, { lockKeys: !viewOnly });
  bindLanguageToggle(languageButton);
  viewOnlyBadge.hidden = !viewOnly;
  bindToolbarShortcut(toolbar);
}
