// A classic script, loaded before a page's modules. A page's code comes in several files; when one of
// them does not arrive (a dropped connection on a school's Wi-Fi), the browser runs none of it and
// the page would sit there half made, the viewer "Connecting" forever. Reload such a page once; if
// it fails again within a minute, say so. No imports: it must run even when the modules do not.
(() => {
  const RELOADED_AT = "deskbroker.reloadedAfterLoadError";

  function reloadedRecently() {
    try {
      const last = Number(sessionStorage.getItem(RELOADED_AT) || 0);
      if (Date.now() - last < 60_000) return true;
      sessionStorage.setItem(RELOADED_AT, String(Date.now()));
      return false;
    } catch {
      return true; // storage disabled: no reload loop can be ruled out, so only say it
    }
  }

  function sayItDidNotLoad() {
    const note = document.createElement("p");
    note.setAttribute("role", "alert");
    note.className = "load-error";
    note.textContent = "The page did not load completely. Please reload it. · "
      + "Die Seite wurde nicht vollständig geladen. Bitte laden Sie sie neu.";
    document.body.prepend(note);
  }

  // Resource errors do not bubble, but a listener on window sees them while they are captured.
  window.addEventListener("error", (event) => {
    const script = event.target;
    if (!(script instanceof HTMLScriptElement) || script.type !== "module") return;
    if (reloadedRecently()) sayItDidNotLoad();
    else window.location.reload();
  }, true);
})();
