// File content read into reused buffers (chunk-pool.ts): the compressor hands each chunk back once
// it has copied it, so a big file costs a few buffers, and the layer's bytes are what they would be
// with fresh buffers.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { ChunkPool, CHUNK_BYTES } from "../../src/layer/chunk-pool.js";
import { ParallelGzip } from "../../src/layer/parallel-gzip.js";
import { DigestingStream } from "../../src/oci/index.js";
import { tarStream, type LayerEntry } from "../../src/layer/index.js";
import { removeDir, tempDir } from "../support/tools.js";
import { collect, mixedData } from "./helpers.js";

let dir: string;
before(async () => {
  dir = await tempDir("imagespec-chunk-pool-");
});
after(async () => {
  await removeDir(dir);
});

describe("ChunkPool", () => {
  it("hands a buffer out again once the whole view it issued comes back, and nothing else", () => {
    const pool = new ChunkPool();
    const first = pool.take();
    const view = pool.issue(first.subarray(0, 1000));
    pool.give(view.subarray(0, 500)); // a piece of it: someone split the chunk, the rest may still be on its way
    pool.give(Buffer.alloc(CHUNK_BYTES)); // not one of its own
    const second = pool.take();
    assert.notEqual(second.buffer, first.buffer, "nothing came back");
    pool.give(view);
    pool.give(view); // twice is once
    assert.equal(pool.take().buffer, first.buffer);
    assert.notEqual(pool.take().buffer, first.buffer);
    assert.equal(pool.allocated, 3);
  });

  it("a tar read into the pool and gzipped by a compressor that hands chunks back: few buffers, the same bytes", async () => {
    const data = mixedData(20 * CHUNK_BYTES + 12345, 9);
    await writeFile(join(dir, "data.bin"), data);
    const entries: LayerEntry[] = [{ path: "opt/data.bin", type: "file", mode: 0o644, source: join(dir, "data.bin"), size: data.length }];
    const pool = new ChunkPool();
    const pooledTar = new DigestingStream();
    const pooled = await collect(tarStream(entries, { buffers: pool }).pipe(pooledTar).pipe(new ParallelGzip({ recycle: (chunk) => pool.give(chunk) })));
    const plainTar = new DigestingStream();
    const plain = await collect(tarStream(entries).pipe(plainTar).pipe(new ParallelGzip()));
    assert.ok(pooled.equals(plain), "the same gzip bytes");
    assert.equal(pooledTar.digest, plainTar.digest, "the same diffID");
    const tar = gunzipSync(pooled);
    assert.equal(`sha256:${createHash("sha256").update(tar).digest("hex")}`, pooledTar.digest);
    assert.ok(tar.subarray(1024, 1024 + data.length).equals(data), "the file's bytes, after the headers of opt/ and of the file");
    assert.ok(pool.allocated <= 8, `${pool.allocated} buffers for 21 reads`);
  });
});
