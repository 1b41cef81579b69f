import assert from "node:assert/strict";
import { test } from "node:test";
import { keysymOf, keysymsOf } from "../src/keysyms.js";

test("Latin-1 characters are their own keysyms", () => {
  assert.deepEqual(keysymsOf("echo Grüße ÄÖÜß @"), [..."echo Grüße ÄÖÜß @"].map((c) => c.charCodeAt(0)));
  assert.equal(keysymOf("ñ".codePointAt(0)), 0xf1);
  assert.equal(keysymOf("ê".codePointAt(0)), 0xea);
});

test("other characters are Unicode keysyms, emoji whole", () => {
  assert.deepEqual(keysymsOf("€你好😀"), [0x010020ac, 0x01004f60, 0x0100597d, 0x0101f600]);
});

test("decomposed text is typed composed", () => {
  assert.deepEqual(keysymsOf("e\u0302"), [0xea]);
});

test("line breaks are Return, tabs Tab, other control characters nothing", () => {
  assert.deepEqual(keysymsOf("a\r\nb\nc\rd\te\u0000\u007f\u0085"),
    [0x61, 0xff0d, 0x62, 0xff0d, 0x63, 0xff0d, 0x64, 0xff09, 0x65]);
});
