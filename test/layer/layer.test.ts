import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFile, copyFile, mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { DigestMismatchError, MediaType } from "../../src/oci/index.js";
import { LayerError, layerFromEntries, layerFromEntriesWithoutCopy, layerFromFile, layerFromTarStream, type LayerEntry } from "../../src/layer/index.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";
import { collect, memoryFile, mixedData, sha256File, sha256hex } from "./helpers.js";

describe("layers", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir("imagespec-layer-");
  });
  after(async () => {
    await removeDir(dir);
  });

  it("layerFromEntries gives one digest and diffID for one tree, whatever the order and host metadata", async () => {
    const data = mixedData(1_500_000, 7);
    const make = async (name: string, mtime: number): Promise<LayerEntry[]> => {
      const host = join(dir, name);
      await mkdir(host, { recursive: true });
      await writeFile(join(host, "lib.so"), data);
      await utimes(join(host, "lib.so"), mtime, mtime);
      return [
        memoryFile("opt/app/run", "#!/bin/sh\nexec python3 -m app\n", 0o755),
        { path: "opt/app/lib.so", type: "file", mode: 0o644, source: join(host, "lib.so") },
        { path: "opt/app/current", type: "symlink", mode: 0o777, linkTarget: "." },
      ];
    };
    const first = await layerFromEntries(await make("one", 1_234_567), { cacheDir: join(dir, "cache-1") });
    const second = await layerFromEntries((await make("two", 1_700_000_000)).reverse(), { cacheDir: join(dir, "cache-2") });
    assert.equal(first.descriptor.digest, second.descriptor.digest);
    assert.equal(first.diffId, second.diffId);
    assert.equal(first.descriptor.mediaType, MediaType.OciLayerGzip);

    const zstd = await layerFromEntries(await make("three", 1), { cacheDir: join(dir, "cache-3"), compression: "zstd" });
    assert.equal(zstd.diffId, first.diffId, "the diffID is the tar's, whatever the compression");
    assert.notEqual(zstd.descriptor.digest, first.descriptor.digest);
    assert.equal(zstd.descriptor.mediaType, MediaType.OciLayerZstd);

    const later = await layerFromEntries(await make("four", 1), { cacheDir: join(dir, "cache-4"), epoch: 1_700_000_000 });
    assert.notEqual(later.diffId, first.diffId, "the epoch is part of the content");
  });

  it("open() streams the built blob, every time, matching the descriptor", async () => {
    const layer = await layerFromEntries([memoryFile("etc/motd", "welcome\n")], { cacheDir: join(dir, "open") });
    for (let i = 0; i < 2; i++) {
      const bytes = await collect(await layer.open());
      assert.equal(`sha256:${sha256hex(bytes)}`, layer.descriptor.digest);
      assert.equal(bytes.length, layer.descriptor.size);
    }
    assert.equal(`sha256:${await sha256File(layer.path)}`, layer.descriptor.digest);
    const { stdout } = await runOk("tar", ["--numeric-owner", "-tvzf", layer.path]);
    assert.match(stdout, /^-rw-r--r-- 0\/0 +8 1970-01-01 00:00 etc\/motd$/m);
  });

  it("layerFromEntriesWithoutCopy: the watcher gets the blob, no file is written, open() makes the same bytes again, and refuses changed sources", async () => {
    const host = join(dir, "uncopied");
    await mkdir(host, { recursive: true });
    await writeFile(join(host, "data.bin"), mixedData(12 << 20, 3));
    const entries: LayerEntry[] = [
      memoryFile("opt/app/run", "#!/bin/sh\n", 0o755),
      { path: "opt/app/data.bin", type: "file", mode: 0o644, source: join(host, "data.bin") },
    ];
    let watched: Promise<Buffer> | undefined;
    const layer = await layerFromEntriesWithoutCopy(entries, {
      epoch: 5,
      onGrowing: (blob) => {
        watched = collect(blob.open());
      },
    });
    const sent = await watched!;
    assert.equal(`sha256:${sha256hex(sent)}`, layer.descriptor.digest);
    assert.equal(sent.length, layer.descriptor.size);
    assert.equal("path" in layer, false, "no file holds it");
    assert.ok((await collect(await layer.open())).equals(sent), "made again, byte for byte");
    const kept = await layerFromEntries(entries, { cacheDir: join(dir, "cache-uncopied"), epoch: 5 });
    assert.deepEqual([kept.descriptor, kept.diffId], [layer.descriptor, layer.diffId], "the same layer as one kept in the cache");

    // Same size, other bytes: what is made again no longer matches, and the read says why.
    await writeFile(join(host, "data.bin"), mixedData(12 << 20, 4));
    await assert.rejects(
      async () => collect(await layer.open()),
      (error: Error) => error instanceof DigestMismatchError && /made again from its 2 files \(were they changed since the build began\?\)/.test(error.message),
    );
  });

  it("layerFromTarStream takes a tar made elsewhere; its diffID is that tar's sha256", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "bin"), { recursive: true });
    await writeFile(join(tree, "bin", "tool"), "#!/bin/sh\n");
    const tarFile = join(dir, "tree.tar");
    await runOk("tar", ["-cf", tarFile, "-C", tree, "bin"]);
    const layer = await layerFromTarStream(createReadStream(tarFile), { cacheDir: join(dir, "from-tar"), compression: "zstd" });
    assert.equal(layer.diffId, `sha256:${await sha256File(tarFile)}`);
    assert.equal(layer.uncompressedSize, (await stat(tarFile)).size);
    const { stdout } = await runOk("sh", ["-c", 'zstd -dc < "$1" | sha256sum', "sh", layer.path]);
    assert.equal(`sha256:${stdout.split(" ")[0]}`, layer.diffId);
  });

  it("layerFromFile serves a cached blob and refuses bytes that no longer match its digest", async () => {
    const built = await layerFromEntries([memoryFile("a", "x".repeat(1000))], { cacheDir: join(dir, "cached") });
    const copy = join(dir, "copy.tar.gz");
    await copyFile(built.path, copy);
    const layer = await layerFromFile(copy, { digest: built.descriptor.digest, diffId: built.diffId, size: built.descriptor.size });
    assert.deepEqual(layer.descriptor, built.descriptor);
    assert.equal(layer.diffId, built.diffId);
    assert.ok((await collect(await layer.open())).equals(await readFile(built.path)));

    await appendFile(copy, "garbage");
    const grown = await layerFromFile(copy, { digest: built.descriptor.digest, diffId: built.diffId });
    await assert.rejects(async () => collect(await grown.open()), DigestMismatchError);
    await assert.rejects(
      layerFromFile(copy, { digest: built.descriptor.digest, diffId: built.diffId, size: built.descriptor.size }),
      (e: unknown) => e instanceof LayerError && e.code === "LAYER_SIZE_MISMATCH",
    );
    await assert.rejects(
      layerFromFile(copy, { digest: "sha256:abc", diffId: built.diffId }),
      (e: unknown) => e instanceof LayerError && e.code === "LAYER_INVALID_OPTION" && e.message.includes("digest"),
    );
    await assert.rejects(
      layerFromFile(join(dir, "missing.tar.gz"), { digest: built.descriptor.digest, diffId: built.diffId }),
      (e: unknown) => e instanceof LayerError && e.message.includes("missing.tar.gz"),
    );
  });

  it("streams a 300 MB file through tar and gzip with bounded memory", async () => {
    // Warm the shared worker pool first so its threads are part of the baseline, not the growth.
    await layerFromEntries([memoryFile("warm", mixedData(3 * 1024 * 1024))], { cacheDir: join(dir, "warm") });

    const chunk = mixedData(1024 * 1024, 3);
    const chunks = 300;
    const size = chunk.length * chunks;
    let served = 0;
    const content = () =>
      new Readable({
        read() {
          this.push(served++ < chunks ? chunk : null);
        },
      });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const layer = await layerFromEntries([{ path: "data/big.bin", type: "file", mode: 0o644, size, open: content }], {
        cacheDir: join(dir, "big"),
      });
      peak = Math.max(peak, process.memoryUsage().rss);
      assert.ok(layer.uncompressedSize! > size);
      const growth = peak - baseline;
      // About 35 MiB is measured here, the same as with no compression at all (stream buffers, GC slack).
      assert.ok(growth < 64 * 1024 * 1024, `resident set grew by ${(growth / 2 ** 20).toFixed(0)} MiB for a ${size / 2 ** 20} MiB file`);
      const { stdout } = await runOk("sh", ["-c", 'gzip -dc < "$1" | sha256sum', "sh", layer.path]);
      assert.equal(`sha256:${stdout.split(" ")[0]}`, layer.diffId);
    } finally {
      clearInterval(sampler);
    }
  });
});
