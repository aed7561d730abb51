// Spec files as data: duplicate keys are found in JSON as JSON.parse sees the keys (after
// unescaping) and only within one object; aliases and nesting within the limits still load.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { findDuplicateJsonKey, MAX_SPEC_DEPTH, parseJsonDocument, parseYamlDocument } from "../../src/spec/documents.js";

describe("spec documents", () => {
  it("finds a duplicate JSON key within one object only, compared after unescaping", () => {
    assert.equal(findDuplicateJsonKey('{"env": {"A": "1"}, "labels": {"A": "1"}, "list": [{"A": 1}, {"A": 2}]}'), undefined);
    assert.equal(findDuplicateJsonKey('{"a": "\\"a\\": 1", "b": ["a", "a"]}'), undefined, "strings that look like keys are values");
    assert.deepEqual(findDuplicateJsonKey('{"aA": 1, "a\\u0041": 2}'), { key: "aA", where: "line 1, column 11" });
    assert.deepEqual(findDuplicateJsonKey('{\n  "x": {"k": 1,\n  "k": 2}}'), { key: "k", where: "line 3, column 3" });
  });

  it("loads what stays within the limits: reused anchors, nesting up to the limit", async () => {
    const yaml = "name: x\nbase: &env {A: '1'}\nenv: *env\nlabels: *env\n";
    assert.deepEqual(await parseYamlDocument("s.yaml", yaml), { name: "x", base: { A: "1" }, env: { A: "1" }, labels: { A: "1" } });
    const nested = (depth: number) => `{"name": "x", "builder_options": ${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;
    assert.doesNotThrow(() => parseJsonDocument("s.json", nested(MAX_SPEC_DEPTH)));
    assert.throws(() => parseJsonDocument("s.json", nested(MAX_SPEC_DEPTH + 1)), { code: "INVALID_SPEC_FILE", message: /s\.json: is nested more than 64 levels deep/ });
  });
});
