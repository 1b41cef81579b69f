// One viewer's life: ask the broker for a grant, open the protocol connection, and when it
// drops, wait (exponential back-off) and start over with a new grant. Permanent problems
// (no such desktop, not running, signed out …) stop and say so.
//
// What the session needs of a protocol viewer: connect(grant, events), returning
// { close(), sendClipboard(text) } and reporting through events.connected(),
// events.closed(problem | null) and events.clipboard(text).
import { requestConnection } from "./api.js";
import { Backoff } from "./backoff.js";
import { ENDED, problemFromApi } from "./problems.js";

// A connection that lasted this long was a success: the back-off starts from the beginning.
// (Not at once: a refused VNC password fails right after the handshake, again and again.)
const STABLE_AFTER_MS = 10000;

export class ViewerSession {
  constructor({ desktopId, protocol, mode, viewer, status, onConnected = () => {}, onClipboard = () => {} }) {
    Object.assign(this, { desktopId, protocol, mode, viewer, status, onConnected, onClipboard });
    this.backoff = new Backoff();
    this.connection = null;
    this.timer = null;
    this.generation = 0; // events of a connection that was given up on are ignored
  }

  start() {
    this.backoff.reset();
    this.attempt();
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.connection?.close();
    this.connection = null;
  }

  sendClipboard(text) {
    this.connection?.sendClipboard(text);
  }

  async attempt() {
    this.stop();
    const generation = this.generation;
    const current = () => generation === this.generation;
    this.status.connecting();
    let grant;
    try {
      grant = await requestConnection(this.desktopId, this.protocol, this.mode);
    } catch (error) {
      if (current()) this.failed(problemFromApi(error));
      return;
    }
    if (!current()) return;
    this.connection = this.viewer.connect(grant, {
      connected: () => {
        if (!current()) return;
        this.status.connected();
        this.timer = setTimeout(() => this.backoff.reset(), STABLE_AFTER_MS);
        this.onConnected();
      },
      closed: (problem) => {
        if (!current()) return;
        this.connection = null;
        this.failed(problem ?? ENDED);
      },
      clipboard: (text) => {
        if (current()) this.onClipboard(text);
      },
    });
  }

  failed(problem) {
    clearTimeout(this.timer);
    const retry = () => this.start();
    if (problem.permanent) {
      this.status.error(problem.key, { retry, signIn: problem.signIn });
      return;
    }
    const delay = this.backoff.next();
    if (delay === null) {
      this.status.error(problem.key, { detailKey: "overlay.gaveUp", retry });
      return;
    }
    this.status.reconnecting(delay, problem.key, () => this.attempt());
    this.timer = setTimeout(() => this.attempt(), delay);
  }
}
