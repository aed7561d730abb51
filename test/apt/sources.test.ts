import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AptError } from "../../src/apt/errors.js";
import { parseOsRelease, isDebianLike } from "../../src/apt/os-release.js";
import { parseDeb822Sources, parseSourcesList, sourcesFromFiles, withMirror } from "../../src/apt/sources.js";

describe("apt sources, one-line format", () => {
  it("reads deb lines with options and drops deb-src, comments and blank lines", () => {
    const entries = parseSourcesList(
      [
        "# main archive",
        "deb http://deb.debian.org/debian bookworm main contrib",
        "deb-src http://deb.debian.org/debian bookworm main",
        "",
        "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/extra.gpg] https://example.org/apt/ stable main # trailing",
        "deb http://example.org/flat ./",
      ].join("\n"),
      "/etc/apt/sources.list",
    );
    assert.deepEqual(entries, [
      { uri: "http://deb.debian.org/debian", suite: "bookworm", components: ["main", "contrib"], origin: "/etc/apt/sources.list:2" },
      {
        uri: "https://example.org/apt",
        suite: "stable",
        components: ["main"],
        architectures: ["amd64", "arm64"],
        signedBy: ["/usr/share/keyrings/extra.gpg"],
        origin: "/etc/apt/sources.list:5",
      },
      { uri: "http://example.org/flat", suite: "./", components: [], origin: "/etc/apt/sources.list:6" },
    ]);
  });

  it("names the file and line of a line it cannot read", () => {
    assert.throws(
      () => parseSourcesList("deb http://x\n", "/etc/apt/sources.list.d/bad.list"),
      (e: unknown) => e instanceof AptError && e.code === "APT_BAD_SOURCES" && e.message.startsWith("/etc/apt/sources.list.d/bad.list:1:"),
    );
  });
});

describe("apt sources, deb822 format", () => {
  it("expands URIs x Suites, honours Enabled and Types, reads Signed-By paths and inline keys", () => {
    const text = [
      "Types: deb deb-src",
      "URIs: http://deb.debian.org/debian",
      "Suites: bookworm bookworm-updates",
      "Components: main",
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
      "",
      "Types: deb",
      "URIs: http://deb.debian.org/debian-security",
      "Suites: bookworm-security",
      "Components: main",
      "Enabled: no",
      "",
      "Types: deb-src",
      "URIs: http://deb.debian.org/debian",
      "Suites: bookworm",
      "Components: main",
      "",
      "Types: deb",
      "URIs: https://example.org/apt",
      "Suites: stable",
      "Components: main extra",
      "Architectures: arm64",
      "Signed-By:",
      " -----BEGIN PGP PUBLIC KEY BLOCK-----",
      " .",
      " abc",
      " -----END PGP PUBLIC KEY BLOCK-----",
    ].join("\n");
    const entries = parseDeb822Sources(text, "/etc/apt/sources.list.d/debian.sources");
    assert.deepEqual(
      entries.map((e) => [e.uri, e.suite, e.components.join(" "), e.signedBy?.join(" ") ?? null, e.architectures?.join(" ") ?? null]),
      [
        ["http://deb.debian.org/debian", "bookworm", "main", "/usr/share/keyrings/debian-archive-keyring.gpg", null],
        ["http://deb.debian.org/debian", "bookworm-updates", "main", "/usr/share/keyrings/debian-archive-keyring.gpg", null],
        ["https://example.org/apt", "stable", "main extra", null, "arm64"],
      ],
    );
    assert.equal(entries[2]!.signedByKey, "\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----");
  });

  it("needs URIs and Suites", () => {
    assert.throws(() => parseDeb822Sources("Types: deb\nURIs: http://x\n"), (e: unknown) => e instanceof AptError && e.code === "APT_BAD_SOURCES");
  });

  it("reads sources.list first, then sources.list.d in name order, both formats; a mirror replaces the main archive", () => {
    const files = new Map<string, Buffer>([
      ["/etc/apt/sources.list.d/zz.list", Buffer.from("deb http://z.example/debian bookworm main\n")],
      ["/etc/apt/sources.list.d/debian.sources", Buffer.from("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-updates\nComponents: main\n")],
      ["/etc/apt/sources.list", Buffer.from("deb http://deb.debian.org/debian bookworm main\n")],
      ["/etc/apt/sources.list.d/ignored.txt", Buffer.from("deb http://nope/ x y\n")],
    ]);
    const entries = sourcesFromFiles(files);
    assert.deepEqual(entries.map((e) => `${e.uri} ${e.suite}`), [
      "http://deb.debian.org/debian bookworm",
      "http://deb.debian.org/debian bookworm-updates",
      "http://z.example/debian bookworm",
    ]);
    assert.deepEqual(withMirror(entries, "http://mirror.local/debian/").map((e) => e.uri), ["http://mirror.local/debian", "http://mirror.local/debian", "http://z.example/debian"]);
  });
});

describe("os-release", () => {
  it("reads Debian and Ubuntu, quoted or not", () => {
    const debian = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n');
    assert.deepEqual(debian, { id: "debian", idLike: [], codename: "bookworm", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)" });
    const ubuntu = parseOsRelease("ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=jammy\n");
    assert.equal(ubuntu.codename, "jammy");
    assert.equal(isDebianLike(ubuntu), true);
    assert.equal(isDebianLike(parseOsRelease("ID=alpine\nVERSION_ID=3.20.0\n")), false);
  });
});
