import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as openpgp from "openpgp";
import { AptError } from "../../src/apt/errors.js";
import { indexPaths, pickIndexFile } from "../../src/apt/packages-index.js";
import { fetchRelease, parseRelease, readKeyring, verifyInRelease, type Release } from "../../src/apt/release.js";
import type { BaseFiles } from "../../src/apt/base-files.js";
import { removeWork, tempWork } from "./helpers.js";

const RELEASE = `Origin: Test
Suite: stable
Codename: testing-imagespec
Date: Sat, 11 Jul 2026 10:16:37 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: amd64 arm64
Components: main
SHA256:
 ${"a".repeat(64)}  1234 main/binary-amd64/Packages
 ${"b".repeat(64)}   321 main/binary-amd64/Packages.xz
`;

async function key(name: string) {
  return openpgp.generateKey({ type: "ecc", curve: "ed25519Legacy", userIDs: [{ name }], format: "object" });
}

async function sign(text: string, privateKey: openpgp.PrivateKey): Promise<string> {
  return openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: privateKey });
}

describe("InRelease signatures", () => {
  let archive: Awaited<ReturnType<typeof key>>;
  let stranger: Awaited<ReturnType<typeof key>>;
  let signed: string;
  let work: string;
  before(async () => {
    [archive, stranger] = await Promise.all([key("test archive"), key("someone else")]);
    signed = await sign(RELEASE, archive.privateKey);
    work = await tempWork("imagespec-apt-release-");
  });
  after(async () => removeWork(work));

  it("verifies a signed Release and parses only the signed text", async () => {
    const keys = await readKeyring(archive.publicKey.armor());
    assert.equal(keys.length, 1);
    const verified = await verifyInRelease(signed, keys, "test InRelease");
    assert.deepEqual(verified.signedBy, [archive.publicKey.getFingerprint().toUpperCase()]);
    const release = parseRelease(verified.text, "http://x/dists/stable", verified.signedBy);
    assert.equal(release.codename, "testing-imagespec");
    assert.deepEqual(release.architectures, ["amd64", "arm64"]);
    assert.equal(release.acquireByHash, true);
    assert.equal(release.allInArchIndexes, true);
    assert.deepEqual(release.files.get("main/binary-amd64/Packages.xz"), { path: "main/binary-amd64/Packages.xz", sha256: "b".repeat(64), size: 321 });
  });

  it("reads binary keyrings too", async () => {
    const binary = Buffer.from(archive.publicKey.write());
    assert.equal((await readKeyring(binary))[0]!.getFingerprint(), archive.publicKey.getFingerprint());
    assert.deepEqual(await readKeyring(Buffer.from("not a key")), []);
  });

  it("rejects a tampered InRelease (one changed hash)", async () => {
    const tampered = signed.replace(`${"b".repeat(64)}   321`, `${"c".repeat(64)}   321`);
    assert.notEqual(tampered, signed);
    await assert.rejects(
      verifyInRelease(tampered, await readKeyring(archive.publicKey.armor()), "test InRelease"),
      (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID" && /^test InRelease: bad OpenPGP signature/.test(e.message),
    );
  });

  it("rejects a signature by a key that is not trusted, an unsigned file, and an empty keyring", async () => {
    await assert.rejects(
      verifyInRelease(await sign(RELEASE, stranger.privateKey), [archive.publicKey], "test InRelease"),
      (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID" && /is not signed by a trusted key/.test(e.message),
    );
    await assert.rejects(verifyInRelease(RELEASE, [archive.publicKey], "test InRelease"), (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID");
    await assert.rejects(verifyInRelease(signed, [], "test InRelease"), (e: unknown) => e instanceof AptError && e.code === "APT_NO_KEYRING");
  });

  it("fetches InRelease from a mirror and checks it with the base image's trusted.gpg.d keys", async () => {
    const mirror = join(work, "mirror");
    await mkdir(join(mirror, "dists", "stable"), { recursive: true });
    const base: BaseFiles = {
      files: new Map([["/etc/apt/trusted.gpg.d/test.asc", Buffer.from(archive.publicKey.armor())]]),
      symlinks: new Map(),
      dirs: new Set(),
    };
    const entry = { uri: pathToFileURL(mirror).href, suite: "stable", components: ["main"], origin: "test" };
    await writeFile(join(mirror, "dists", "stable", "InRelease"), signed);
    const release = await fetchRelease(entry, base);
    assert.equal(release.files.size, 2);

    await writeFile(join(mirror, "dists", "stable", "InRelease"), signed.replace("Components: main", "Components: main evil"));
    await assert.rejects(fetchRelease(entry, base), (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID");
    // Signed-By names the keyring: the trusted.gpg.d key does not count for an entry signed by another.
    const strangerBase: BaseFiles = { ...base, files: new Map([...base.files, ["/usr/share/keyrings/other.gpg", Buffer.from(stranger.publicKey.write())]]) };
    await writeFile(join(mirror, "dists", "stable", "InRelease"), signed);
    await assert.rejects(fetchRelease({ ...entry, signedBy: ["/usr/share/keyrings/other.gpg"] }, strangerBase), (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID");
  });

  it("rejects an expired Release", async () => {
    const mirror = join(work, "expired");
    await mkdir(join(mirror, "dists", "stable"), { recursive: true });
    await writeFile(join(mirror, "dists", "stable", "InRelease"), await sign(RELEASE.replace("Acquire-By-Hash", "Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC\nAcquire-By-Hash"), archive.privateKey));
    const base: BaseFiles = { files: new Map([["/etc/apt/trusted.gpg", Buffer.from(archive.publicKey.write())]]), symlinks: new Map(), dirs: new Set() };
    await assert.rejects(
      fetchRelease({ uri: pathToFileURL(mirror).href, suite: "stable", components: ["main"], origin: "test" }, base),
      (e: unknown) => e instanceof AptError && e.code === "APT_RELEASE_EXPIRED",
    );
  });
});

describe("Release with a detached Release.gpg", () => {
  it("is verified when an archive has no InRelease, and rejected when altered or unsigned", async () => {
    const { privateKey, publicKey } = await key("detached archive");
    const work = await tempWork("imagespec-apt-detached-");
    try {
      const dists = join(work, "dists", "stable");
      await mkdir(dists, { recursive: true });
      const signature = await openpgp.sign({ message: await openpgp.createMessage({ binary: Buffer.from(RELEASE) }), signingKeys: privateKey, detached: true });
      const base: BaseFiles = { files: new Map([["/etc/apt/trusted.gpg.d/a.asc", Buffer.from(publicKey.armor())]]), symlinks: new Map(), dirs: new Set() };
      const entry = { uri: pathToFileURL(work).href, suite: "stable", components: ["main"], origin: "test" };
      await writeFile(join(dists, "Release"), RELEASE);
      await assert.rejects(fetchRelease(entry, base), (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID" && /is not signed/.test(e.message));
      await writeFile(join(dists, "Release.gpg"), signature as string);
      assert.equal((await fetchRelease(entry, base)).codename, "testing-imagespec");
      await writeFile(join(dists, "Release"), RELEASE.replace("amd64 arm64", "amd64 arm64 s390x"));
      await assert.rejects(fetchRelease(entry, base), (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID" && /bad OpenPGP signature/.test(e.message));
    } finally {
      await removeWork(work);
    }
  });
});

describe("which Packages indexes a Release offers", () => {
  const files = (paths: string[]) => new Map(paths.map((p) => [p, { path: p, sha256: "a".repeat(64), size: 1 }]));
  const release = (architectures: string[], allInArchIndexes: boolean): Release => ({
      base: "http://x/dists/x",
      architectures,
      components: ["main"],
      acquireByHash: true,
      allInArchIndexes,
      files: files(["main/binary-amd64/Packages.xz", "main/binary-all/Packages.xz", "main/binary-all/Packages.gz"]),
      signedBy: [],
    });

  it("adds binary-all only where the Release lists `all` and keeps arch-all packages apart; prefers xz", () => {
    assert.deepEqual(indexPaths(release(["all", "amd64"], false), "main", "amd64"), ["main/binary-amd64/Packages", "main/binary-all/Packages"]);
    assert.deepEqual(indexPaths(release(["all", "amd64"], true), "main", "amd64"), ["main/binary-amd64/Packages"]);
    assert.deepEqual(indexPaths(release(["amd64", "arm64"], false), "main", "amd64"), ["main/binary-amd64/Packages"]);
    assert.equal(pickIndexFile(release(["amd64"], false), "main/binary-all/Packages")?.path, "main/binary-all/Packages.xz");
    assert.equal(pickIndexFile(release(["amd64"], false), "main/binary-arm64/Packages"), undefined);
  });
});
