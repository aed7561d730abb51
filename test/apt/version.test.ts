import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compareVersions, formatGroup, parseRelations, satisfies } from "../../src/apt/version.js";

describe("Debian version comparison", () => {
  const ordered = [
    "0.9~rc1",
    "0.9",
    "0.9-1",
    "0.9-1.1",
    "0.9a",
    "0.9+b1",
    "0.10",
    "1.0~~",
    "1.0~~a",
    "1.0~",
    "1.0",
    "1.0-0",
    "1.0-1~bpo1",
    "1.0-1",
    "1.0-1+deb12u1",
    "1.0.1",
    "1:0.1",
    "2:0.0",
  ];
  it("orders versions as dpkg does (tilde first, epoch above all, revision last)", () => {
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const expected = Math.sign(i - j);
        // "1.0" and "1.0-0" compare equal in dpkg (an absent revision is "0"-like for digits).
        if ((ordered[i] === "1.0" && ordered[j] === "1.0-0") || (ordered[i] === "1.0-0" && ordered[j] === "1.0")) continue;
        assert.equal(compareVersions(ordered[i]!, ordered[j]!), expected, `${ordered[i]} vs ${ordered[j]}`);
      }
    }
  });

  it("treats leading zeros and an explicit zero epoch as equal", () => {
    assert.equal(compareVersions("1.01", "1.1"), 0);
    assert.equal(compareVersions("0:1.2-3", "1.2-3"), 0);
    assert.equal(compareVersions("7.88.1-10+deb12u15", "7.88.1-10+deb12u8"), 1);
    assert.equal(compareVersions("2.36-9+deb12u4", "2.36-9+deb12u10"), -1);
  });

  it("checks relations", () => {
    assert.equal(satisfies("1.6-2.1", { relation: ">=", version: "1.6" }), true);
    assert.equal(satisfies("1.6-2.1", { relation: "<<", version: "1.6" }), false);
    assert.equal(satisfies("1.6-2.1", { relation: "=", version: "1.6-2.1" }), true);
    assert.equal(satisfies("1.6-2.1", { relation: ">>", version: "1.6-2.1" }), false);
    assert.equal(satisfies("1.6-2.1", { relation: "<=", version: "1.6-2.1" }), true);
    assert.equal(satisfies("1.0", undefined), true);
  });
});

describe("package relations", () => {
  it("parses alternatives, versions, architecture qualifiers and obsolete operators", () => {
    const groups = parseRelations("libc6 (>= 2.34), libcurl4 (= 7.88.1-10) | libcurl3-gnutls, python3:any (>= 3.11~), foo (< 2), bar [amd64] <!nocheck>");
    assert.deepEqual(groups, [
      [{ name: "libc6", constraint: { relation: ">=", version: "2.34" } }],
      [{ name: "libcurl4", constraint: { relation: "=", version: "7.88.1-10" } }, { name: "libcurl3-gnutls" }],
      [{ name: "python3", arch: "any", constraint: { relation: ">=", version: "3.11~" } }],
      [{ name: "foo", constraint: { relation: "<=", version: "2" } }],
      [{ name: "bar" }],
    ]);
    assert.equal(formatGroup(groups[1]!), "libcurl4 (= 7.88.1-10) | libcurl3-gnutls");
    assert.deepEqual(parseRelations(undefined), []);
    assert.deepEqual(parseRelations("a,\n b"), [[{ name: "a" }], [{ name: "b" }]]);
  });

  it("rejects text that is not a relation", () => {
    assert.throws(() => parseRelations("libc6 (>= 2.34"), /cannot parse package relation/);
  });
});
