// Exponential back-off for reconnecting: 1 s, 2 s, 4 s … up to `maxDelay`, with some
// jitter so that many viewers cut off together (a broker restart) do not return together.
export class Backoff {
  constructor({ firstDelay = 1000, maxDelay = 30000, attempts = 6, jitter = 0.2, random = Math.random } = {}) {
    Object.assign(this, { firstDelay, maxDelay, attempts, jitter, random });
    this.reset();
  }

  reset() {
    this.failures = 0;
  }

  get exhausted() {
    return this.failures >= this.attempts;
  }

  /** The wait before the next attempt in ms, or null when it is time to give up. */
  next() {
    if (this.exhausted) return null;
    const base = Math.min(this.maxDelay, this.firstDelay * 2 ** this.failures);
    this.failures += 1;
    return Math.round(base * (1 - this.jitter + 2 * this.jitter * this.random()));
  }
}
