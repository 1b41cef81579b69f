// What the dashboard and the file manager share: the language toggle and error words.
import { bindLanguageToggle, translate } from "./i18n.js";

export function startPage() {
  const toggle = document.getElementById("language-button");
  if (toggle) bindLanguageToggle(toggle);
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
