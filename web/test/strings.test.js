import assert from "node:assert/strict";
import { test } from "node:test";
import { STRINGS } from "../src/strings.js";

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("German and English have the same keys and the same placeholders", () => {
  assert.deepEqual(Object.keys(STRINGS.de).sort(), Object.keys(STRINGS.en).sort());
  for (const [key, text] of Object.entries(STRINGS.en)) {
    assert.ok(text.trim() && STRINGS.de[key].trim(), key);
    assert.deepEqual(placeholders(STRINGS.de[key]), placeholders(text), key);
  }
});
