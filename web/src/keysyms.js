// X11 keysyms for text that arrives without key events. As X11 defines them: Latin-1
// characters are their own keysyms, every other character is the Unicode keysym
// 0x01000000 + code point (Xvnc adds keysyms its keymap lacks on the fly).
// Guacamole.Keyboard has this mapping only privately, and its type() splits emoji into halves.

const RETURN = 0xff0d;
const TAB = 0xff09;

/** The keysym that types one character (a code point), or null for control characters. */
export function keysymOf(codePoint) {
  if (codePoint === 0x0a) return RETURN;
  if (codePoint === 0x09) return TAB;
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0)) return null;
  if (codePoint <= 0xff) return codePoint;
  if (codePoint <= 0x10ffff) return 0x01000000 + codePoint;
  return null;
}

/**
 * The keysyms that type `text`, one per character. Composed first (NFC): "e" + U+0302 from
 * dictation or a decomposing keyboard becomes one "ê", as a person typing it would send.
 */
export function keysymsOf(text) {
  const keysyms = [];
  for (const character of text.normalize("NFC").replace(/\r\n?/g, "\n")) {
    const keysym = keysymOf(character.codePointAt(0));
    if (keysym !== null) keysyms.push(keysym);
  }
  return keysyms;
}
