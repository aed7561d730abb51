import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  checkHost,
  checkTag,
  formatReference,
  isLoopbackHost,
  parseReference,
  parseRegistryLocation,
  InvalidReferenceError,
  repositoryName,
  withDigest,
  withTag,
} from "../../src/reference/reference.js";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

void describe("parseReference", () => {
  const cases: [string, string][] = [
    ["ubuntu", "docker.io/library/ubuntu:latest"],
    ["ubuntu:22.04", "docker.io/library/ubuntu:22.04"],
    ["library/ubuntu", "docker.io/library/ubuntu:latest"],
    ["docker.io/ubuntu", "docker.io/library/ubuntu:latest"],
    ["index.docker.io/library/ubuntu:1", "docker.io/library/ubuntu:1"],
    ["registry-1.docker.io/team/app", "docker.io/team/app:latest"],
    ["myuser/app", "docker.io/myuser/app:latest"],
    ["a/b/c/d", "docker.io/a/b/c/d:latest"],
    ["localhost:5000/a/b:t", "localhost:5000/a/b:t"],
    ["localhost/a", "localhost/a:latest"],
    ["Example.COM:443/x", "example.com:443/x:latest"],
    ["ghcr.io/org/app:v1.2.3", "ghcr.io/org/app:v1.2.3"],
    ["[::1]:5000/x", "[::1]:5000/x:latest"],
    ["[::1]/x:t", "[::1]/x:t"],
    ["[fe80::1%eth0]:5000/x", "[fe80::1%eth0]:5000/x:latest"],
    // No slash: the colon is a tag, as Docker reads it.
    ["localhost:5000", "docker.io/library/localhost:5000"],
    [`ubuntu@${DIGEST}`, `docker.io/library/ubuntu@${DIGEST}`],
    [`ubuntu:22.04@${DIGEST}`, `docker.io/library/ubuntu:22.04@${DIGEST}`],
    [`localhost:5000/app@${DIGEST}`, `localhost:5000/app@${DIGEST}`],
  ];
  for (const [input, expected] of cases) {
    void it(`${input} -> ${expected}`, () => {
      assert.equal(formatReference(parseReference(input)), expected);
    });
  }

  void it("splits registry, repository, tag and digest", () => {
    assert.deepEqual(parseReference(`[::1]:5000/team/app:v1@${DIGEST}`), {
      registry: "[::1]:5000",
      repository: "team/app",
      tag: "v1",
      digest: DIGEST,
    });
    assert.deepEqual(parseReference(`app@${DIGEST}`), { registry: "docker.io", repository: "library/app", digest: DIGEST });
  });

  const invalid: [string, RegExp][] = [
    ["", /it is empty/],
    ["a b", /white space/],
    ["Ubuntu", /path component "Ubuntu".*upper case is not allowed/],
    ["ubuntu:", /the tag is empty/],
    ["ubuntu:-x", /tag "-x" is invalid/],
    [`ubuntu:${"a".repeat(129)}`, /at most 128 characters/],
    ["ubuntu@sha256:abc", /"sha256:abc" is not a digest/],
    [`ubuntu@sha256:${"A".repeat(64)}`, /64 lower-case hex characters/],
    ["localhost:99999/x", /"99999" is not a valid port/],
    ["localhost:0/x", /"0" is not a valid port/],
    ["[::1/x", /closing '\]'/],
    ["[zz::1]:5000/x", /is not an IPv6 address/],
    ["bad_host.com/x", /not a valid host name/],
    ["x//y", /empty component/],
    ["/ubuntu", /empty component/],
    [":tag", /repository name is empty/],
    [`@${DIGEST}`, /repository name is empty/],
    ["a".repeat(256), /longer than 255/],
  ];
  for (const [input, problem] of invalid) {
    void it(`rejects ${JSON.stringify(input.slice(0, 40))} saying why`, () => {
      assert.throws(
        () => parseReference(input),
        (error: unknown) => {
          assert.ok(error instanceof InvalidReferenceError);
          assert.equal(error.code, "INVALID_REFERENCE");
          assert.match(error.message, problem);
          assert.ok(error.message.includes(JSON.stringify(input)), "the message quotes the input");
          assert.ok(error.hint && error.hint.length > 0, "there is a hint");
          return true;
        },
      );
    });
  }
});

void describe("parseRegistryLocation", () => {
  const cases: [string, { host: string; prefix: string }][] = [
    ["localhost:5000", { host: "localhost:5000", prefix: "" }],
    ["ghcr.io/org", { host: "ghcr.io", prefix: "org" }],
    ["ghcr.io/org/team/", { host: "ghcr.io", prefix: "org/team" }],
    ["index.docker.io/me", { host: "docker.io", prefix: "me" }],
    ["[::1]:5000/p", { host: "[::1]:5000", prefix: "p" }],
    ["123456789012.dkr.ecr.us-east-1.amazonaws.com/team", { host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", prefix: "team" }],
    // A first component that is not a host is a Docker Hub namespace, as in image references.
    ["myuser", { host: "docker.io", prefix: "myuser" }],
    ["myuser/team", { host: "docker.io", prefix: "myuser/team" }],
  ];
  for (const [input, expected] of cases) {
    void it(`${input} -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseRegistryLocation(input), expected);
    });
  }

  void it("names the same repository as parseReference for a Docker Hub namespace", () => {
    const location = parseRegistryLocation("myuser");
    assert.equal(repositoryName(parseReference(`myuser/app`)), `${location.host}/${location.prefix}/app`);
  });

  for (const [input, problem] of [
    ["", /host is empty/],
    ["/x", /host is empty/],
    ["ghcr.io/Org", /registry path "Org".*upper case/],
    ["localhost:70000", /not a valid port/],
  ] as const) {
    void it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseRegistryLocation(input), problem);
    });
  }
});

void describe("helpers", () => {
  void it("checkHost accepts names, ports and IPv6 literals", () => {
    assert.equal(checkHost("registry.example.com:443"), undefined);
    assert.equal(checkHost("[2001:db8::1]:5000"), undefined);
    assert.match(checkHost("[::1]x") ?? "", /unexpected "x"/);
    assert.match(checkHost("-bad.com") ?? "", /not a valid host name/);
  });

  void it("checkTag follows the distribution grammar", () => {
    assert.equal(checkTag("v1.0_rc-2"), undefined);
    assert.equal(checkTag("_x"), undefined);
    assert.match(checkTag(".x") ?? "", /starting with a letter/);
  });

  void it("withTag replaces the tag and drops the digest; withDigest keeps the tag", () => {
    const ref = parseReference(`ghcr.io/a/b:old@${DIGEST}`);
    assert.equal(formatReference(withTag(ref, "new")), "ghcr.io/a/b:new");
    assert.throws(() => withTag(ref, "bad tag"), InvalidReferenceError);
    assert.equal(formatReference(withDigest(parseReference("ghcr.io/a/b:t"), DIGEST)), `ghcr.io/a/b:t@${DIGEST}`);
  });

  void it("isLoopbackHost", () => {
    assert.equal(isLoopbackHost("localhost:5000"), true);
    assert.equal(isLoopbackHost("127.0.0.1:5000"), true);
    assert.equal(isLoopbackHost("[::1]:5000"), true);
    assert.equal(isLoopbackHost("ghcr.io"), false);
  });
});
