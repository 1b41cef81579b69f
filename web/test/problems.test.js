import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError } from "../src/api.js";
import { problemFromApi, problemFromGuacamole } from "../src/problems.js";

test("refusals of /connect that retrying cannot fix are permanent", () => {
  const cases = [
    [401, "not_signed_in", "error.signedOut"],
    [403, "forbidden", "error.forbidden"],
    [404, "desktop_not_found", "error.notFound"],
    [409, "desktop_not_running", "error.notRunning"],
  ];
  for (const [status, code, key] of cases) {
    const problem = problemFromApi(new ApiError(status, code));
    assert.deepEqual([problem.key, problem.permanent], [key, true], `${status} ${code}`);
  }
  assert.equal(problemFromApi(new ApiError(401, "not_signed_in")).signIn, true);
  assert.equal(problemFromApi(new ApiError(401, "account_disabled")).key, "error.accountDisabled");
});

test("network and server trouble is retried", () => {
  const cases = [[0, "error.offline"], [502, "error.server"], [503, "error.server"], [429, "error.busy"]];
  for (const [status, key] of cases) {
    assert.deepEqual(problemFromApi(new ApiError(status, "x")), { key, permanent: false });
  }
});

test("screens locked by a teacher (noVNC) are tried again until unlocked", () => {
  assert.deepEqual(problemFromApi(new ApiError(403, "screen_locked")), { key: "error.screenLocked", permanent: false });
});

test("Guacamole statuses: a used token and a missing upstream are retried, a kicked session is not", () => {
  const of = (code) => problemFromGuacamole({ code });
  assert.deepEqual(of(0x0301), { key: "error.tokenExpired", permanent: false });
  assert.deepEqual(of(0x0207), { key: "error.unreachable", permanent: false });
  assert.deepEqual(of(0x0203), { key: "error.upstream", permanent: false });
  assert.deepEqual(of(0x020B), { key: "error.sessionClosed", permanent: true });
  assert.deepEqual(of(0x0303), { key: "error.forbidden", permanent: true });
  assert.deepEqual(of(0x7777), { key: "error.upstream", permanent: false });
});

test("the broker's reason for ending a connection is told, and none is retried", () => {
  const ended = (message) => problemFromGuacamole({ code: 0x020B, message });
  assert.equal(ended("Your account was disabled.").key, "error.accountDisabled");
  assert.deepEqual(ended("You were signed out."), { key: "error.endedSignedOut", permanent: true, signIn: true });
  assert.equal(ended("The desktop was stopped.").key, "error.desktopStopped");
  assert.equal(ended("You may no longer watch this desktop.").key, "error.watchRevoked");
  assert.equal(ended("An administrator ended this connection.").key, "error.sessionClosed");
  assert.equal(ended("something else").key, "error.sessionClosed");
  for (const message of ["Your account was disabled.", "The desktop was stopped."]) {
    assert.equal(ended(message).permanent, true);
  }
});
