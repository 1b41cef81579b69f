// The viewer's text field: a hidden textarea in the screen that can hold the keyboard focus.
// Text that comes without key events (IMEs, dictation, on-screen keyboards, Chromium's
// insertText) only reaches an editable element; here it becomes keysyms for the desktop.
// Physical keys still go to the viewer's keyboard handling (Guacamole.Keyboard, noVNC's), which
// cancels their default action, so they never turn into input here as well.
import { translate } from "./i18n.js";
import { keysymsOf } from "./keysyms.js";

const LINE_BREAKS = new Set(["insertLineBreak", "insertParagraph"]);

/**
 * Makes the field inside `screen`; `typeKeysym(keysym)` presses and releases one key on the desktop.
 * Returns the field and `focusKeyboard(touch)`, which gives the keyboard's focus to the field, or,
 * on a touch screen (where focusing the field brings up the on-screen keyboard), to the screen
 * (`focusScreen`): there the Keyboard button focuses the field.
 */
export function createTextInput({ screen, keyboardButton, typeKeysym,
  focusScreen = () => screen.focus({ preventScroll: true }) }) {
  const field = document.createElement("textarea");
  field.className = "text-input";
  field.setAttribute("data-i18n-aria-label", "viewer.touchKeys");
  field.autocapitalize = "off";
  field.autocomplete = "off";
  field.spellcheck = false;
  field.tabIndex = -1; // Tab reaches the screen, which hands its focus on to the field

  const type = (text) => keysymsOf(text).forEach(typeKeysym);
  // Guacamole.Keyboard(screen) would type these events too, splitting emoji into halves and
  // ignoring `input` for good after the first composition: they stop at the field.
  field.addEventListener("compositionstart", (event) => event.stopPropagation());
  field.addEventListener("input", (event) => {
    event.stopPropagation();
    // An IME's candidates: only the committed text counts, and it comes with compositionend.
    if (event.isComposing || event.inputType.includes("Composition")) return;
    type(LINE_BREAKS.has(event.inputType) ? "\n" : event.data ?? "");
    field.value = "";
  });
  field.addEventListener("compositionend", (event) => {
    event.stopPropagation();
    type(event.data ?? "");
    field.value = "";
  });

  screen.append(field);
  translate(field); // made after the page was translated: its label now, and at every switch

  const touchFirst = matchMedia("(pointer: coarse)").matches;
  keyboardButton.hidden = !matchMedia("(any-pointer: coarse)").matches;
  keyboardButton.addEventListener("click", () => field.focus());
  const focusKeyboard = (touch = touchFirst) => {
    if (document.activeElement === field) return;
    if (touch) focusScreen();
    else field.focus({ preventScroll: true });
  };
  // The viewers' pointer handling cancels mousedown, which would also cancel focusing.
  screen.addEventListener("pointerdown", (event) => focusKeyboard(event.pointerType !== "mouse"));
  return { field, focusKeyboard };
}
