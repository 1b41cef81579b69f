// The Guacamole viewer: guacamole-common-js over the broker's /tunnel WebSocket.
import {
  Client, Keyboard, Mouse, StringReader, StringWriter, Tunnel, WebSocketTunnel,
} from "@glokon/guacamole-common-js";
import { problemFromGuacamole } from "./problems.js";
import { createSound } from "./sound.js";
import { createTextInput } from "./text-input.js";
import { startViewer } from "./viewer-page.js";

const RESIZE_DELAY_MS = 300;
// Sizes go out in CSS pixels at 96 DPI: one desktop pixel per CSS pixel keeps the desktop's
// text readable on high-density tablets (VNC desktops do not scale their UI by DPI).
const DPI = 96;

function screenSize(screen) {
  return { width: Math.max(1, screen.clientWidth), height: Math.max(1, screen.clientHeight) };
}

function createGuacamoleViewer({ screen, viewOnly, keyboardButton, soundControls }) {
  let client = null; // the open connection's client, if any
  const sound = createSound(soundControls);
  let displayElement = null;
  let resizeTimer = null;

  function fit() {
    const display = client?.getDisplay();
    const width = display?.getWidth();
    const height = display?.getHeight();
    if (!width || !height) return;
    const { width: room, height: roomHeight } = screenSize(screen);
    display.scale(Math.min(room / width, roomHeight / height));
  }

  new ResizeObserver(() => {
    fit();
    if (viewOnly) return; // a watcher never resizes someone else's desktop
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const { width, height } = screenSize(screen);
      client?.sendSize(width, height);
    }, RESIZE_DELAY_MS);
  }).observe(screen);

  // Where the keyboard's focus goes: the screen for a viewer that only watches.
  let focusKeyboard = () => screen.focus({ preventScroll: true });

  if (!viewOnly) {
    // Keys go to Guacamole.Keyboard; text without key events (IMEs, dictation) to the text field.
    const typeKeysym = (keysym) => {
      client?.sendKeyEvent(1, keysym);
      client?.sendKeyEvent(0, keysym);
    };
    ({ focusKeyboard } = createTextInput({ screen, keyboardButton, typeKeysym }));
    const keyboard = new Keyboard(screen); // the screen and the text field inside it
    keyboard.onkeydown = (keysym) => {
      client?.sendKeyEvent(1, keysym);
      return false; // every key belongs to the desktop
    };
    keyboard.onkeyup = (keysym) => client?.sendKeyEvent(0, keysym);
    // Keys held while the focus leaves (Ctrl+Alt+Shift to the toolbar) must not stay down.
    screen.addEventListener("focusout", (event) => {
      if (!screen.contains(event.relatedTarget)) keyboard.reset();
    });
  }

  function attachPointer(display, send) {
    const element = display.getElement();
    const mouse = new Mouse(element);
    mouse.onEach(["mousedown", "mousemove", "mouseup"], (event) => send(event.state));
    const touch = new Mouse.Touchscreen(element); // tap = click, long press = right click
    touch.onEach(["mousedown", "mousemove", "mouseup"], (event) => send(event.state));
    // The desktop's cursor as the local one; the drawn cursor layer only where CSS cannot.
    display.oncursor = (canvas, x, y) => display.showCursor(!mouse.setCursor(canvas, x, y));
  }

  function connect(grant, events) {
    const tunnel = new WebSocketTunnel(grant.tunnel_url); // relative: same origin, ws: or wss:
    const guac = new Client(tunnel);
    const display = guac.getDisplay();
    let finished = false;
    let lastError = null;

    const finish = () => {
      if (finished) return;
      finished = true;
      if (client === guac) client = null;
      events.closed(lastError && problemFromGuacamole(lastError));
    };

    // The last frame stays visible (dimmed by the overlay) until the next connection draws.
    displayElement?.remove();
    displayElement = display.getElement();
    screen.prepend(displayElement);
    display.onresize = fit;
    if (!viewOnly) attachPointer(display, (state) => guac.sendMouseState(state, true));

    sound.connection(Boolean(grant.sound)); // the owner's connections only, when the type has sound
    guac.onaudio = sound.player;
    guac.onclipboard = (stream, mimetype) => {
      if (!mimetype.startsWith("text/")) return;
      const reader = new StringReader(stream);
      let text = "";
      reader.ontext = (part) => { text += part; };
      reader.onend = () => events.clipboard(text);
    };
    // An `error` instruction comes first, then the client disconnects and the tunnel closes.
    guac.onerror = (status) => { lastError = status; };
    tunnel.onerror = (status) => { lastError ??= status; };
    tunnel.onstatechange = (state) => {
      if (state === Tunnel.State.CLOSED) finish();
    };
    guac.onstatechange = (state) => {
      if (state === Client.State.CONNECTED) events.connected(); // after the first frame (sync)
    };

    client = guac;
    const { width, height } = screenSize(screen);
    const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    guac.connect(new URLSearchParams({ token: grant.token, width, height, dpi: DPI, timezone }).toString());

    return {
      close() {
        finished = true;
        if (client === guac) client = null;
        guac.disconnect();
      },
      sendClipboard(text) {
        const writer = new StringWriter(guac.createClipboardStream("text/plain"));
        writer.sendText(text);
        writer.sendEnd();
      },
    };
  }

  return { connect, focus: () => focusKeyboard() };
}

startViewer(createGuacamoleViewer);
