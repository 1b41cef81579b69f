import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError } from "../src/api.js";
import { desktopErrorKey, reasonHelps, startUrl } from "../src/start-errors.js";
import { STRINGS } from "../src/strings.js";

test("every refusal of a start says what to do, in both languages", () => {
  const cases = [
    [409, "quota_exceeded", "dash.err.quota"],
    [409, "desktop_busy", "dash.err.busy"],
    [503, "image_missing", "dash.err.image"],
    [503, "engine_unavailable", "dash.err.engine"],
    [500, "start_failed", "dash.err.startFailed"],
    [504, "start_timeout", "dash.err.timeout"],
    [401, "not_signed_in", "error.signedOut"],
    [0, "offline", "error.offline"],
    [502, "something_new", "error.server"],
  ];
  for (const [status, code, key] of cases) {
    assert.equal(desktopErrorKey(new ApiError(status, code)), key, code);
    assert.ok(STRINGS.en[key] && STRINGS.de[key], key);
  }
  assert.equal(desktopErrorKey(new TypeError("boom")), "error.server");
});

test("only a failed or timed-out start shows the server's reason", () => {
  assert.ok(reasonHelps("dash.err.startFailed") && reasonHelps("dash.err.timeout"));
  assert.ok(!reasonHelps("dash.err.quota"));
});

test("Start leads to the viewer that starts the desktop", () => {
  assert.equal(startUrl("xfce"), "/start/xfce?protocol=guacamole");
  assert.equal(startUrl("a b"), "/start/a%20b?protocol=guacamole");
});
