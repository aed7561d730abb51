import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkDebianVersion, parseAptPackage } from "../../src/spec/debian.js";

void describe("parseAptPackage", () => {
  void it("reads name, architecture and version", () => {
    assert.deepEqual(parseAptPackage("curl"), { name: "curl" });
    assert.deepEqual(parseAptPackage("libc6:arm64"), { name: "libc6", architecture: "arm64" });
    assert.deepEqual(parseAptPackage("openssl=3.0.13-1~deb12u1"), { name: "openssl", version: "3.0.13-1~deb12u1" });
    assert.deepEqual(parseAptPackage("libssl3:amd64=3.0.13-1"), { name: "libssl3", architecture: "amd64", version: "3.0.13-1" });
  });

  for (const name of ["g++", "libstdc++6", "python3.11-dev", "r-base", "xz-utils", "0ad"]) {
    void it(`accepts ${name}`, () => assert.equal("problem" in parseAptPackage(name), false));
  }

  const invalid: [string, RegExp][] = [
    ["Curl", /lower case; did you mean "curl"\?/],
    ["x", /is not a Debian package name: expected at least two/],
    ["-curl", /is not a Debian package name/],
    ["lib_ssl", /is not a Debian package name/],
    ["curl==7.88", /single '='/],
    ["curl>=7", /not ranges/],
    ["curl=", /version after '=' is empty/],
    ["curl=abc", /"abc" is not a Debian version/],
    ["libc6:ARM64", /"ARM64" is not a Debian architecture/],
    [" curl", /white space/],
  ];
  for (const [input, problem] of invalid) {
    void it(`rejects ${JSON.stringify(input)}`, () => {
      const parsed = parseAptPackage(input);
      assert.ok("problem" in parsed, "rejected");
      assert.match(parsed.problem, problem);
    });
  }
});

void describe("checkDebianVersion", () => {
  for (const version of ["1.0", "1:2.30-1", "3.0.13-1~deb12u1", "2.4.57-2+b1", "1.2.3~rc1", "1:1.2:3-1", "7.88.1-10+deb12u5"]) {
    void it(`accepts ${version}`, () => assert.equal(checkDebianVersion(version), undefined));
  }
  for (const version of ["a1.0", "x:1.0", "1.0-", "1.0-r_1", "1:x", "1.2:3"]) {
    void it(`rejects ${version}`, () => assert.match(checkDebianVersion(version) ?? "(accepted)", /not a Debian version/));
  }
});
