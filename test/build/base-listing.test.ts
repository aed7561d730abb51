// Reading a base image's file listing from its layers: entry types, OCI whiteouts and opaque
// directories applied across layers, the libc found in package databases, every compression a
// base may use, and the per-layer cache that makes a base cost one read per machine.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { pipeline, Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { glibcFromDpkgStatus, listLayer, mergeLayerListings, muslFromApkInstalled, readBaseListing } from "../../src/build/base-listing.js";
import { DigestingStream, MediaType, sha256, type Blob } from "../../src/oci/index.js";
import { makeTar, removeDir, tempDir, type TestLayer } from "../support/tools.js";

const DPKG_STATUS = [
  "Package: libc-bin",
  "Status: install ok installed",
  "Version: 2.36-9+deb12u4",
  "",
  "Package: libc6",
  "Status: install ok installed",
  "Architecture: amd64",
  "Version: 2.36-9+deb12u4",
  "",
].join("\n");

/** A layer blob that counts how often it is opened and checks its bytes like a registry blob does. */
function countingBlob(mediaType: string, data: Buffer, digest = sha256(data)): Blob & { opens: number } {
  const blob = {
    opens: 0,
    descriptor: { mediaType, digest, size: data.length },
    async open() {
      blob.opens++;
      return pipeline(Readable.from([data]), new DigestingStream({ digest, size: data.length }), () => {});
    },
  };
  return blob;
}

async function gzipLayer(layer: TestLayer): Promise<Blob & { opens: number }> {
  return countingBlob(MediaType.OciLayerGzip, gzipSync(await makeTar(layer)));
}

const pathsOf = (listing: { paths: readonly { path: string; type: string; linkTarget?: string }[] }) =>
  Object.fromEntries(listing.paths.map((p) => [p.path, p.linkTarget === undefined ? p.type : `${p.type} -> ${p.linkTarget}`]));

describe("base image listing", () => {
  let work: string;
  before(async () => {
    work = await tempDir("imagespec-listing-");
  });
  after(async () => {
    await removeDir(work);
  });

  it("merges layers: whiteouts delete, opaque directories empty, a file replacing a directory takes its contents", async () => {
    const bottom = await gzipLayer({
      "usr/bin/python3.11": "elf",
      "usr/bin/python3": { symlink: "python3.11" },
      "etc/conf.d/a": "a",
      "etc/conf.d/b": "b",
      "opt/tool/bin/run": "x",
      "srv/data/file": "x",
      "var/lib/dpkg/status": DPKG_STATUS,
    });
    const middle = await gzipLayer({
      "etc/conf.d/.wh..wh..opq": "",
      "etc/conf.d/c": "c",
      "opt/.wh.tool": "",
      "srv/data": { symlink: "/mnt/data" },
    });
    const top = await gzipLayer({ "usr/bin/.wh.python3": "", "usr/local/bin/app": "y" });
    const listing = await readBaseListing([bottom, middle, top], { cacheDir: join(work, "cache-merge") });
    assert.deepEqual(pathsOf(listing), {
      "/usr": "dir",
      "/usr/bin": "dir",
      "/usr/bin/python3.11": "file",
      "/usr/local": "dir",
      "/usr/local/bin": "dir",
      "/usr/local/bin/app": "file",
      "/etc": "dir",
      "/etc/conf.d": "dir",
      "/etc/conf.d/c": "file",
      "/opt": "dir",
      "/srv": "dir",
      "/srv/data": "symlink -> /mnt/data",
      "/var": "dir",
      "/var/lib": "dir",
      "/var/lib/dpkg": "dir",
      "/var/lib/dpkg/status": "file",
    });
    assert.deepEqual(listing.libc, { family: "glibc", version: "2.36" });
  });

  it("reads each layer once per cache: the listing is kept by layer digest", async () => {
    const cacheDir = join(work, "cache-once");
    const layer = await gzipLayer({ "usr/local/bin/python3.12": "elf", "var/lib/dpkg/status": DPKG_STATUS.replaceAll("2.36", "2.31") });
    const first = await readBaseListing([layer], { cacheDir });
    const second = await readBaseListing([layer], { cacheDir });
    assert.equal(layer.opens, 1);
    assert.deepEqual(second, first);
    assert.deepEqual(second.libc, { family: "glibc", version: "2.31" });
    assert.deepEqual(await readdir(join(cacheDir, "listings")), [`${layer.descriptor.digest.slice("sha256:".length)}.json`]);
    // Another cache dir is another machine: it reads the layer again.
    await readBaseListing([layer], { cacheDir: join(work, "cache-elsewhere") });
    assert.equal(layer.opens, 2);
  });

  it("reads plain tar and zstd layers, and hardlinks as paths from the root", async () => {
    const tar = await makeTar({ "lib/ld-musl-x86_64.so.1": "elf", "lib/apk/db/installed": "P:busybox\nV:1.36.1-r5\n\nP:musl\nV:1.2.4-r2\n\n" });
    const plain = await listLayer(countingBlob(MediaType.OciLayerTar, tar));
    assert.deepEqual(plain.libc, { family: "musl", version: "1.2" });

    const zstd = spawnSync("zstd", ["-q", "-c"], { input: tar });
    assert.equal(zstd.status, 0, String(zstd.stderr));
    const compressed = await listLayer(countingBlob(MediaType.OciLayerZstd, zstd.stdout));
    assert.deepEqual(compressed.entries, plain.entries);

    // GNU tar writes hardlinks relative to the archive root; the listing makes them absolute.
    const dir = join(work, "hardlink");
    spawnSync("mkdir", ["-p", join(dir, "usr", "bin")]);
    spawnSync("sh", ["-c", `echo x > ${dir}/usr/bin/perl5.36 && ln ${dir}/usr/bin/perl5.36 ${dir}/usr/bin/perl`]);
    const gnu = spawnSync("tar", ["-C", dir, "--sort=name", "-cf", "-", "usr"]);
    const listed = await listLayer(countingBlob("application/vnd.docker.image.rootfs.diff.tar.gzip", gzipSync(gnu.stdout)));
    assert.deepEqual(
      listed.entries.filter((e) => e.path.startsWith("/usr/bin/")),
      [
        { path: "/usr/bin/perl", type: "file" },
        { path: "/usr/bin/perl5.36", type: "hardlink", linkTarget: "/usr/bin/perl" },
      ],
    );
  });

  it("finds musl from its loader when there is no package database", async () => {
    const listing = mergeLayerListings([await listLayer(await gzipLayer({ "lib/ld-musl-aarch64.so.1": "elf" }))]);
    assert.deepEqual(listing.libc, { family: "musl", version: "1.2" });
    const none = mergeLayerListings([await listLayer(await gzipLayer({ "bin/sh": "elf" }))]);
    assert.equal(none.libc, undefined);
  });

  it("fails on a layer whose bytes do not match its digest, and caches nothing for it", async () => {
    const data = gzipSync(await makeTar({ "bin/sh": "elf" }));
    const cacheDir = join(work, "cache-bad");
    const bad = countingBlob(MediaType.OciLayerGzip, data, sha256("something else"));
    await assert.rejects(readBaseListing([bad], { cacheDir }), (error: Error & { code?: string }) => error.code === "DIGEST_MISMATCH");
    await assert.rejects(readdir(join(cacheDir, "listings")));
  });

  it("takes glibc only from an installed libc6 and musl from its apk record", () => {
    assert.equal(glibcFromDpkgStatus("Package: libc6\nStatus: deinstall ok config-files\nVersion: 2.31-13\n"), undefined);
    assert.deepEqual(glibcFromDpkgStatus("Package: libc6\nStatus: install ok installed\nVersion: 2.35-0ubuntu3.8\n"), { family: "glibc", version: "2.35" });
    assert.equal(glibcFromDpkgStatus("Package: libc6-dev\nStatus: install ok installed\nVersion: 2.36-9\n"), undefined);
    assert.deepEqual(muslFromApkInstalled("P:musl-utils\nV:9.9.9-r0\n\nP:musl\nV:1.2.5-r0\n"), { family: "musl", version: "1.2" });
  });
});
