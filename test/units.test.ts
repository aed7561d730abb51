// Sizes as people write them in flags and config files (units.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSize, parseSizeOrNever } from "../src/units.js";

describe("parseSize", () => {
  it("reads bytes and binary units in any case, with or without a space", () => {
    assert.equal(parseSize("4096"), 4096);
    assert.equal(parseSize("128MiB"), 128 * 1024 ** 2);
    assert.equal(parseSize("128 mib"), 128 * 1024 ** 2);
    assert.equal(parseSize("1g"), 1024 ** 3);
    assert.equal(parseSize("2KiB"), 2048);
    assert.equal(parseSize("0"), 0);
  });

  it("refuses what is not a whole size: no sign, no fraction, no unknown unit, nothing too big to count", () => {
    for (const text of ["", "-1", "1.5GiB", "12 parsecs", "MiB", "128MB", "99999999999GiB"]) assert.equal(parseSize(text), undefined, text);
  });

  it("parseSizeOrNever also takes never, in any case", () => {
    assert.equal(parseSizeOrNever("never"), "never");
    assert.equal(parseSizeOrNever(" Never "), "never");
    assert.equal(parseSizeOrNever("1GiB"), 1024 ** 3);
    assert.equal(parseSizeOrNever("sometimes"), undefined);
  });
});
