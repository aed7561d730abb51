import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseDpkgStatus, installedFromFiles } from "../../src/apt/dpkg-status.js";
import { AptError } from "../../src/apt/errors.js";
import { parsePackagesIndex, type IndexPackage } from "../../src/apt/packages-index.js";
import { buildUniverse, resolvePackages } from "../../src/apt/resolve.js";

const STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library
 multi-line
 .
 description

Package: zlib1g
Status: install ok installed
Architecture: amd64
Version: 1:1.2.13.dfsg-1
Provides: libz1 (= 1:1.2.13.dfsg-1)

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: mawk
Status: install ok installed
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk
`;

function pkg(name: string, version: string, extra: Partial<IndexPackage> = {}): IndexPackage {
  return { name, version, architecture: "amd64", filename: `pool/${name}_${version}.deb`, size: 1, sha256: "0".repeat(64), archive: "http://x", ...extra };
}

const installed = parseDpkgStatus(STATUS);

describe("dpkg status", () => {
  it("keeps installed packages only, with Provides and Multi-Arch", () => {
    assert.deepEqual(installed.map((p) => `${p.name} ${p.version} ${p.architecture} ${p.multiArch ?? "-"}`), [
      "libc6 2.36-9+deb12u4 amd64 same",
      "zlib1g 1:1.2.13.dfsg-1 amd64 -",
      "mawk 1.3.4.20200120-3.1 amd64 -",
    ]);
    assert.deepEqual(installed[1]!.provides, [[{ name: "libz1", constraint: { relation: "=", version: "1:1.2.13.dfsg-1" } }]]);
  });

  it("reads a status.d database (no Status field) when there is no status file", () => {
    const set = installedFromFiles(
      new Map([
        ["/var/lib/dpkg/status.d/base-files", Buffer.from("Package: base-files\nVersion: 12.4\nArchitecture: amd64\n")],
        ["/var/lib/dpkg/status.d/base-files.md5sums", Buffer.from("abc  etc/issue\n")],
      ]),
    );
    assert.equal(set.database, "status.d");
    assert.deepEqual(set.packages.map((p) => p.name), ["base-files"]);
    assert.equal(installedFromFiles(new Map([["/var/lib/dpkg/status", Buffer.from(STATUS)]])).database, "status");
  });
});

describe("Packages index", () => {
  it("parses the fields resolution needs", () => {
    const text = `Package: jq
Version: 1.6-2.1
Installed-Size: 102
Architecture: amd64
Depends: libjq1 (= 1.6-2.1), libc6 (>= 2.34)
Description: lightweight and flexible command-line JSON processor
 jq is like sed for JSON data
Filename: pool/main/j/jq/jq_1.6-2.1_amd64.deb
Size: 64000
SHA256: ABCDEF0000000000000000000000000000000000000000000000000000000000

Package: nofile
Version: 1
`;
    assert.deepEqual(parsePackagesIndex(text, "http://deb.debian.org/debian"), [
      {
        name: "jq",
        version: "1.6-2.1",
        architecture: "amd64",
        depends: "libjq1 (= 1.6-2.1), libc6 (>= 2.34)",
        filename: "pool/main/j/jq/jq_1.6-2.1_amd64.deb",
        size: 64000,
        sha256: "abcdef0000000000000000000000000000000000000000000000000000000000",
        archive: "http://deb.debian.org/debian",
      },
    ]);
  });
});

describe("resolution", () => {
  const universe = buildUniverse(
    [
      pkg("app", "2.0", { depends: "libfoo (>= 1.1) | libfoo-compat, awk, libc6 (>= 2.34), libz1" }),
      pkg("app", "1.0", { depends: "libfoo" }),
      pkg("libfoo", "1.0"),
      pkg("libfoo-compat", "3.0", { depends: "libbar" }),
      pkg("libbar", "1.0"),
      pkg("libc6", "2.36-9+deb12u10"),
      pkg("tool", "1.0", { depends: "mail-transport-agent" }),
      pkg("postfix", "3.7", { provides: "mail-transport-agent", priority: "optional" }),
      pkg("exim4", "4.96", { provides: "mail-transport-agent", priority: "standard" }),
      pkg("newer-libc-user", "1.0", { depends: "libc6 (>= 2.36-9+deb12u5)" }),
      pkg("chain-top", "1.0", { depends: "chain-mid" }),
      pkg("chain-mid", "1.0", { depends: "chain-leaf (>= 2.0)" }),
      pkg("chain-leaf", "1.0"),
      pkg("docs", "1.0", { architecture: "all" }),
      pkg("other-arch", "1.0", { architecture: "arm64" }),
      pkg("vless", "1.0", { depends: "virt (>= 2)" }),
      pkg("virt-provider", "1.0", { provides: "virt" }),
    ],
    "amd64",
  );
  const names = (r: ReturnType<typeof resolvePackages>) => r.install.map((p) => `${p.name}=${p.version}`);

  it("takes the first alternative that can be installed, skips what the base has (directly or by Provides)", () => {
    const r = resolvePackages([{ name: "app" }, { name: "docs" }], universe, installed);
    // libfoo 1.0 does not meet (>= 1.1): the second alternative; awk is mawk's, libz1 zlib1g's, libc6 is new enough.
    assert.deepEqual(names(r), ["app=2.0", "docs=1.0", "libbar=1.0", "libfoo-compat=3.0"]);
    assert.deepEqual(r.upgrades, []);
  });

  it("installs an exact version when asked, and skips a requested package the base has", () => {
    assert.deepEqual(names(resolvePackages([{ name: "app", version: "1.0" }], universe, installed)), ["app=1.0", "libfoo=1.0"]);
    const r = resolvePackages([{ name: "libc6" }], universe, installed);
    assert.deepEqual(names(r), []);
    assert.deepEqual(r.alreadyInstalled, ["libc6 2.36-9+deb12u4"]);
  });

  it("upgrades a base package a dependency needs newer", () => {
    const r = resolvePackages([{ name: "newer-libc-user" }], universe, installed);
    assert.deepEqual(names(r), ["libc6=2.36-9+deb12u10", "newer-libc-user=1.0"]);
    assert.deepEqual(r.upgrades, [{ name: "libc6", from: "2.36-9+deb12u4", to: "2.36-9+deb12u10" }]);
  });

  it("picks a provider of a virtual package by priority", () => {
    assert.deepEqual(names(resolvePackages([{ name: "tool" }], universe, [])), ["exim4=4.96", "tool=1.0"]);
  });

  it("names the chain of an unsatisfiable dependency", () => {
    assert.throws(
      () => resolvePackages([{ name: "chain-top" }], universe, installed),
      (e: unknown) =>
        e instanceof AptError &&
        e.code === "APT_UNSATISFIABLE" &&
        e.message === "cannot install chain-top: chain-top -> chain-top 1.0 -> chain-mid 1.0 -> chain-leaf (>= 2.0): chain-leaf (>= 2.0): the archive has 1.0",
    );
    // An unversioned Provides cannot satisfy a versioned dependency.
    assert.throws(() => resolvePackages([{ name: "vless" }], universe, []), (e: unknown) => e instanceof AptError && e.code === "APT_UNSATISFIABLE" && /virt \(>= 2\): no such package/.test(e.message));
  });

  it("reports a missing package with a suggestion, an impossible version with what exists, a foreign architecture", () => {
    assert.throws(
      () => resolvePackages([{ name: "libfooo" }], universe, installed),
      (e: unknown) => e instanceof AptError && e.code === "APT_PACKAGE_NOT_FOUND" && e.message === 'package libfooo is not in the archive for amd64; did you mean "libfoo"?',
    );
    assert.throws(
      () => resolvePackages([{ name: "app", version: "99.0" }], universe, installed),
      (e: unknown) => e instanceof AptError && e.code === "APT_VERSION_NOT_FOUND" && /app=99.0: the archive has no version 99.0 of app for amd64 \(it has 2.0, 1.0\)/.test(e.message),
    );
    assert.throws(() => resolvePackages([{ name: "other-arch" }], universe, installed), (e: unknown) => e instanceof AptError && e.code === "APT_PACKAGE_NOT_FOUND");
    assert.throws(() => resolvePackages([{ name: "app", architecture: "arm64" }], universe, installed), (e: unknown) => e instanceof AptError && e.code === "APT_ARCHITECTURE");
  });

  it("refuses a virtual package with several providers", () => {
    assert.throws(
      () => resolvePackages([{ name: "mail-transport-agent" }], universe, []),
      (e: unknown) => e instanceof AptError && e.message === "mail-transport-agent is a virtual package provided by exim4, postfix",
    );
  });
});
