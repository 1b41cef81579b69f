// Clipboard both ways. Remote → browser: shown in the clipboard panel and written to the
// system clipboard where the browser allows it. Browser → remote: the system clipboard is
// read when the page gets focus (if the browser grants clipboard-read), and whatever is
// typed or pasted into the panel is sent. The panel is the fallback that always works.

const SEND_DELAY_MS = 300;

async function readPermission() {
  try {
    return (await navigator.permissions.query({ name: "clipboard-read" })).state;
  } catch {
    return "unsupported"; // e.g. Firefox: readText() would pop up a paste menu on every focus
  }
}

export function createClipboard({ panel, textarea, toggle, closeButton, editable, send }) {
  let last = ""; // what both sides hold, so nothing is echoed back
  let sendTimer = null;

  function offer(text) {
    if (text === last) return;
    last = text;
    textarea.value = text;
    send(text);
  }

  async function readSystemClipboard() {
    if (!editable || !navigator.clipboard?.readText || !document.hasFocus()) return;
    if (!["granted", "prompt"].includes(await readPermission())) return;
    try {
      const text = await navigator.clipboard.readText();
      if (text) offer(text);
    } catch {
      // refused or not focused any more: the panel still works
    }
  }

  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    (open ? textarea : toggle).focus();
  }

  textarea.readOnly = !editable;
  textarea.addEventListener("input", () => {
    clearTimeout(sendTimer);
    sendTimer = setTimeout(() => offer(textarea.value), SEND_DELAY_MS);
  });
  toggle.addEventListener("click", () => setOpen(panel.hidden));
  closeButton.addEventListener("click", () => setOpen(false));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") setOpen(false);
  });
  window.addEventListener("focus", readSystemClipboard);

  return {
    /** Text the desktop copied. */
    received(text) {
      if (text === last) return;
      last = text;
      textarea.value = text;
      if (document.hasFocus()) navigator.clipboard?.writeText(text).catch(() => {});
    },
    /** Offer the system clipboard to the desktop (e.g. right after connecting). */
    sync: readSystemClipboard,
  };
}
