// The local step cache on a real disk: a hit does not hash a layer file that is as it was when it
// was written or last checked, yet a file written since (even one whose size and mtime were put
// back) is hashed, and a damaged one is dropped with a warning; damage no stamp can see still never
// leaves the cache as good bytes, because every read of the layer is checked against its digest
// (and a file that fails that check is removed, so the next build makes the layer again).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { layerFromEntries, type FileLayer } from "../../src/layer/index.js";
import { cachedLayerOf, layerFilePath } from "../../src/build/steps/cached-layer.js";
import { StepCache } from "../../src/build/steps/cache.js";
import { layerCodec, readLayerRecord, writeLayerRecord } from "../../src/build/steps/layer-record.js";
import { sha256 } from "../../src/oci/index.js";
import { drain } from "../registry/util.js";
import { removeDir, tempDir } from "../support/tools.js";

async function waitFor(done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await done()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(await done(), "in time");
}

const WHOLE_SECOND = new Date("2020-01-01T00:00:00Z");

describe("local step cache", () => {
  let work: string;
  before(async () => {
    work = await tempDir("imagespec-step-cache-");
  });
  after(async () => {
    await removeDir(work);
  });

  async function cachedLayer(cacheDir: string, content: string): Promise<{ key: string; layer: FileLayer; path: string }> {
    const source = join(work, `${sha256(content).slice(7, 19)}.txt`);
    await writeFile(source, content);
    const layer = await layerFromEntries([{ path: "app/data.txt", type: "file", mode: 0o644, size: Buffer.byteLength(content), source }], {
      cacheDir: join(cacheDir, "layers"),
      epoch: 0,
    });
    const key = sha256(`key of ${content}`);
    const path = layerFilePath(cacheDir, layer.descriptor.digest);
    // Whole seconds, so the damage below can put the mtime back exactly.
    await utimes(path, WHOLE_SECOND, WHOLE_SECOND);
    await writeLayerRecord(cacheDir, key, layer);
    return { key, layer, path };
  }

  async function flipByteKeepingTimes(path: string): Promise<void> {
    const before = await stat(path);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await writeFile(path, bytes);
    await utimes(path, WHOLE_SECOND, WHOLE_SECOND);
    const after = await stat(path);
    assert.deepEqual([after.size, after.mtimeMs, after.ino], [before.size, before.mtimeMs, before.ino], "only the bytes (and the ctime) changed");
  }

  it("finds a layer it wrote, and drops one rewritten with the same size and mtime", async () => {
    const cacheDir = join(work, "cache-1");
    const { key, layer, path } = await cachedLayer(cacheDir, "hello\n".repeat(5000));
    const warnings: string[] = [];
    const hit = await readLayerRecord(cacheDir, key, (message) => warnings.push(message));
    assert.equal(hit?.descriptor.digest, layer.descriptor.digest);
    assert.equal(warnings.length, 0, warnings.join("\n"));

    await flipByteKeepingTimes(path);
    assert.equal(await readLayerRecord(cacheDir, key, (message) => warnings.push(message)), undefined, "a rewritten file is checked, and is a miss");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /has sha256 sha256:[0-9a-f]{64}, expected .*damaged; removed it, building the layer again/);
    await assert.rejects(stat(path), /ENOENT/, "the damaged file is gone");
  });

  it("checks a record written without stamps once, then trusts the stamp; damage under the stamp fails the read", async () => {
    const cacheDir = join(work, "cache-2");
    const { key, layer, path } = await cachedLayer(cacheDir, "world\n".repeat(5000));
    // A record as an earlier release wrote it: no stamps, so the first hit hashes the file.
    const recordFile = join(cacheDir, "steps", `${key.slice("sha256:".length)}.json`);
    await writeFile(recordFile, JSON.stringify({ format: 1, key, layer: cachedLayerOf(layer) }));
    const cache = new StepCache(layerCodec, { cacheDir });
    assert.ok(await cache.lookupLocal(key, assert.fail), "an unstamped intact file is a hit");
    const stamped = JSON.parse(await readFile(recordFile, "utf8")) as { checked?: Record<string, { size: number }> };
    assert.equal(stamped.checked?.[layer.descriptor.digest]?.size, layer.descriptor.size, "the hit remembered the checked file");

    // Damage the stamp cannot see (as bit rot would be): made here by stamping the damaged file.
    await flipByteKeepingTimes(path);
    await writeLayerRecord(cacheDir, key, layer);
    const hit = await cache.lookupLocal(key, assert.fail);
    assert.ok(hit, "the stamp matches, so the file is not hashed");
    await assert.rejects(drain(hit.layers[0]!), (error: Error & { code?: string }) => error.code === "DIGEST_MISMATCH", "reading the layer finds the damage");
    // ... and removes the file, so the next build makes the layer again instead of failing again.
    await waitFor(async () => (await stat(path).catch(() => undefined)) === undefined);
    assert.equal(await cache.lookupLocal(key, assert.fail), undefined);
  });
});
