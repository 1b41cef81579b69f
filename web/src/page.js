// What the signed-in pages share: the language toggle, signing out and error words.
import { bindLanguageToggle, translate } from "./i18n.js";

async function signOut(button) {
  await fetch("/api/auth/logout", { method: "POST", headers: { "X-CSRF-Token": button.dataset.csrf } });
  window.location.assign("/");
}

export function startPage() {
  const toggle = document.getElementById("language-button");
  if (toggle) bindLanguageToggle(toggle);
  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", () => signOut(logout));
  translate(document);
}

/** An element with optional class, attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child != null) element.append(child);
  return element;
}

/** Show `text` (already translated) in the page's alert region; empty clears it. */
export function showError(region, text) {
  region.textContent = text || "";
  region.hidden = !text;
}
