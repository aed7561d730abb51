// PEP 440 as pip's packaging reads it: ordering across epochs, pre/post/dev and local labels,
// every operator's special cases, and the pre-release rule.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compareVersion, filterVersions, formatVersion, parseSpecifierSet, parseVersion, requireVersion, setContains } from "../../src/python/pep440.js";
import { PythonError } from "../../src/python/errors.js";

const v = requireVersion;
const admits = (specifiers: string, version: string) => setContains(parseSpecifierSet(specifiers), v(version), version);

describe("PEP 440 versions", () => {
  it("normalises the spellings pip accepts", () => {
    assert.equal(formatVersion(v("1.0-RC.1")), "1.0rc1");
    assert.equal(formatVersion(v("v2.0alpha")), "2.0a0");
    assert.equal(formatVersion(v("1.0-1")), "1.0.post1");
    assert.equal(formatVersion(v("1.0.POST-2.dev")), "1.0.post2.dev0");
    assert.equal(formatVersion(v("1!2.0+Ubuntu-1")), "1!2.0+ubuntu.1");
    assert.equal(parseVersion("1.0-beta-x"), undefined);
    assert.equal(parseVersion("not a version"), undefined);
  });

  it("orders dev < pre < release < post, epochs first, local labels after their public version", () => {
    const ordered = ["1.0.dev0", "1.0a1.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0+abc", "1.0+abc.5", "1.0+5", "1.0.post1.dev1", "1.0.post1", "1.1.dev1", "1.1", "2", "1!0.1"];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        assert.equal(Math.sign(compareVersion(v(ordered[i]!), v(ordered[j]!))), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
      }
    }
    assert.equal(compareVersion(v("1.0"), v("1.0.0.0")), 0);
  });
});

describe("PEP 440 specifiers", () => {
  it("~= is >= V and == its prefix.*", () => {
    assert.ok(admits("~=2.2", "2.9"));
    assert.ok(!admits("~=2.2", "3.0"));
    assert.ok(admits("~=1.4.5", "1.4.9"));
    assert.ok(!admits("~=1.4.5", "1.5.0"));
    assert.ok(admits("~=2.2.post3", "2.3"));
    assert.ok(!admits("~=2.2.post3", "2.2"));
  });

  it("== and != with prefixes, padding and local labels", () => {
    assert.ok(admits("==1.1", "1.1.0"));
    assert.ok(admits("==1.1", "1.1+local"));
    assert.ok(!admits("==1.1+a", "1.1+b"));
    assert.ok(admits("==1.1.*", "1.1.post1"));
    assert.ok(admits("==1.1.*", "1.1rc1"));
    assert.ok(!admits("==1.1.*", "1.10"));
    assert.ok(admits("==1.*", "1"));
    assert.ok(!admits("!=1.1.*", "1.1.3"));
    assert.ok(admits("!=1.1", "1.1.1"));
    assert.ok(admits("===1.0+Foo", "1.0+foo"));
    assert.ok(!admits("===1.0", "1.0.0"));
  });

  it("<V excludes V's pre-releases, >V excludes V's post-releases and local builds", () => {
    assert.ok(!admits("<3.0", "3.0rc1"));
    assert.ok(admits("<3.0rc2", "3.0rc1"));
    assert.ok(admits("<3.0", "2.9.dev1"));
    assert.ok(!admits(">1.7", "1.7.post1"));
    assert.ok(admits(">1.7.post1", "1.7.post2"));
    assert.ok(!admits(">1.7", "1.7+local"));
    assert.ok(admits(">1.7", "1.7.1"));
    assert.ok(admits("<=2.0", "2.0+local"));
    assert.ok(admits(">=2.0", "2.0+local"));
  });

  it("rejects what PEP 440 does not allow, naming the specifier", () => {
    for (const bad of [">=1.*", "~=1", "<1.0+local", "=>1", "==banana"]) {
      assert.throws(() => parseSpecifierSet(bad), (error: unknown) => error instanceof PythonError && error.message.includes(bad.replace("=>", "")), bad);
    }
  });

  it("admits pre-releases only when asked, when a specifier names one, or when nothing else matches", () => {
    const versions = ["2.0rc1", "1.5", "1.0"].map(v);
    const pick = (specifiers: string, pre = false) => filterVersions(versions, parseSpecifierSet(specifiers), (x) => x, pre).map(formatVersion);
    assert.deepEqual(pick(""), ["1.5", "1.0"]);
    assert.deepEqual(pick("", true), ["2.0rc1", "1.5", "1.0"]);
    assert.deepEqual(pick(">=2.0rc1"), ["2.0rc1"]);
    assert.deepEqual(pick(">=1.8"), ["2.0rc1"]);
    assert.deepEqual(pick(">=1.0,!=1.5"), ["1.0"]);
  });
});

describe("normalised requirements in the resolution key", () => {
  it("spells names, extras and specifiers one way, and keeps what does not parse", async () => {
    const { normalizedRequirement } = await import("../../src/python/resolution.js");
    assert.equal(normalizedRequirement("Requests[Socks , security]>= 2.0,<3"), normalizedRequirement("requests[security,socks]<3,>=2.0"));
    assert.equal(normalizedRequirement("Zope.Interface ; python_version >= '3.8'"), "zope-interface ; python_version >= '3.8'");
    assert.notEqual(normalizedRequirement("requests>=2"), normalizedRequirement("requests>=3"));
    assert.equal(normalizedRequirement(" -e ./local "), "-e ./local");
  });
});
