import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/backoff.js";

test("delays double up to the cap, then it gives up", () => {
  const backoff = new Backoff({ jitter: 0, attempts: 7 });
  const delays = Array.from({ length: 8 }, () => backoff.next());
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, null]);
  assert.equal(backoff.exhausted, true);
  backoff.reset();
  assert.equal(backoff.next(), 1000);
});

test("jitter stays within its share of the delay", () => {
  const low = new Backoff({ random: () => 0 });
  const high = new Backoff({ random: () => 1 });
  assert.equal(low.next(), 800);
  assert.equal(high.next(), 1200);
});
