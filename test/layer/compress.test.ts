import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import * as zlib from "node:zlib";
import { MediaType } from "../../src/oci/index.js";
import { compressToCache, LayerError, resolveCompressor, tarStream, type CompressionOptions } from "../../src/layer/index.js";
import { ParallelGzip } from "../../src/layer/parallel-gzip.js";
import { gzipWorkerPool, type GzipBlockOptions, type GzipWorkerPool } from "../../src/layer/gzip-workers.js";
import { ProcessStream } from "../../src/layer/process-stream.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";
import { collect, memoryFile, mixedData, sha256hex } from "./helpers.js";

// 3.5 MiB: several 1 MiB gzip members plus a partial one, and several pigz/zstd blocks.
const DATA = mixedData(3.5 * 1024 * 1024 + 123);
const DATA_DIGEST = `sha256:${sha256hex(DATA)}`;

describe("compressToCache", () => {
  let dir: string;
  let counter = 0;
  before(async () => {
    dir = await tempDir("imagespec-compress-");
  });
  after(async () => {
    await removeDir(dir);
  });

  /** Compresses DATA (or `input`) into a fresh cache dir. */
  async function compress(options: CompressionOptions, input: Buffer = DATA) {
    const cacheDir = join(dir, `cache-${counter++}`);
    const blob = await compressToCache(Readable.from([input]), { ...options, cacheDir });
    return { blob, cacheDir, bytes: await readFile(blob.path) };
  }

  /** Checks what every compressor must guarantee: names, digests and sizes match the file. */
  async function assertWellFormed(blob: Awaited<ReturnType<typeof compress>>, mediaType: string) {
    const { blob: b, cacheDir, bytes } = blob;
    assert.equal(b.descriptor.mediaType, mediaType);
    assert.equal(b.descriptor.size, bytes.length);
    const { stdout } = await runOk("sha256sum", [b.path]);
    assert.equal(`sha256:${stdout.split(" ")[0]}`, b.descriptor.digest, "descriptor digest should be sha256sum of the file");
    assert.equal(b.path, join(cacheDir, `sha256-${b.descriptor.digest.slice(7)}`));
    assert.deepEqual(await readdir(cacheDir), [`sha256-${b.descriptor.digest.slice(7)}`], "no temporary files left behind");
    assert.equal(b.diffId, DATA_DIGEST);
    assert.equal(b.uncompressedSize, DATA.length);
  }

  /** Decompresses with an external program and compares with the input via the diffID. */
  async function assertDecompressesTo(path: string, program: "gzip" | "zstd", diffId: string) {
    const { stdout } = await runOk("sh", ["-c", `${program} -dc < "$1" | sha256sum`, "sh", path]);
    assert.equal(`sha256:${stdout.split(" ")[0]}`, diffId);
  }

  describe("gzip on node worker threads (the default)", () => {
    it("writes a valid gzip stream that decompresses to exactly the input", async () => {
      const result = await compress({});
      await assertWellFormed(result, MediaType.OciLayerGzip);
      await runOk("gzip", ["-t", result.blob.path]);
      await assertDecompressesTo(result.blob.path, "gzip", result.blob.diffId);
      assert.ok(gunzipSync(result.bytes).equals(DATA), "node's gunzip reads all members");
      assert.match(result.blob.compressor, /^gzip\/node-zlib-.+\/level-1\/block-1048576\/store-8x2048-min131072-0\.98-first0\.9$/);
    });

    it("gives the same bytes on every run and with any number of workers", async () => {
      const a = await compress({ threads: 2 });
      const b = await compress({ threads: 1 });
      const c = await compress({});
      assert.equal(a.blob.descriptor.digest, b.blob.descriptor.digest);
      assert.equal(a.blob.descriptor.digest, c.blob.descriptor.digest);
      const other = await compress({ level: 6 });
      assert.notEqual(other.blob.descriptor.digest, a.blob.descriptor.digest, "the level changes the bytes");
      assert.notEqual(other.blob.compressor, a.blob.compressor, "so it is part of the compressor id");
    });

    it("is exactly one gzip member per block, in order, with the OS byte pinned", async () => {
      const blockSize = 256 * 1024;
      const output = await collect(Readable.from([DATA]).pipe(new ParallelGzip({ level: 6, blockSize, workers: 2, inFlight: 3, storeIncompressible: false })));
      const expected: Buffer[] = [];
      for (let offset = 0; offset < DATA.length; offset += blockSize) {
        const member = gzipSync(DATA.subarray(offset, offset + blockSize), { level: 6 });
        member[9] = 3;
        expected.push(member);
      }
      assert.equal(expected.length, 15);
      assert.ok(output.equals(Buffer.concat(expected)), "output should be the concatenated per-block members");
    });

    it("stores the blocks that do not compress and deflates the others (the default)", async () => {
      // DATA is words in its first 1.75 MiB (blocks 0-6; block 7 starts with 61 bytes of them) and
      // random bytes after; the last block has 123 bytes, too few to test, so it is deflated.
      const blockSize = 256 * 1024;
      const levels = [6, 6, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0, 0, 0, 6];
      const output = await collect(Readable.from([DATA]).pipe(new ParallelGzip({ level: 6, blockSize, workers: 2 })));
      const expected = levels.map((level, index) => {
        const block = DATA.subarray(index * blockSize, (index + 1) * blockSize);
        // zlib cuts stored blocks by the output space it is given: the worker's one chunk per block.
        const chunkSize = Math.max(block.length + (block.length >> 10) + 1024, 16384);
        const member = gzipSync(block, { level, chunkSize });
        member[9] = 3;
        return member;
      });
      assert.ok(output.equals(Buffer.concat(expected)), "random blocks should be stored members, word blocks level-6 members");
      assert.ok(gunzipSync(output).equals(DATA));
      const deflated = await collect(Readable.from([DATA]).pipe(new ParallelGzip({ level: 6, blockSize, storeIncompressible: false })));
      assert.ok(output.length <= deflated.length, `storing should not grow the output (${output.length} > ${deflated.length})`);
    });

    it("deflates a block whose first sample compresses without testing the rest, stores one whose first does not", async () => {
      // Both blocks are mostly random. The first opens with 520 bytes of words: its first sample
      // shrinks to 0.874, so it is deflated, though all eight together shrink only to 0.985 and
      // would have it stored. The second opens with random bytes, so all eight samples are tested,
      // and since they do not shrink it is stored.
      const blockSize = 256 * 1024;
      const words = DATA.subarray(0, 520);
      const random = DATA.subarray(2 * 1024 * 1024, 2 * 1024 * 1024 + 2 * blockSize);
      const input = Buffer.concat([words, random.subarray(0, blockSize - words.length), random.subarray(blockSize)]);
      const output = await collect(Readable.from([input]).pipe(new ParallelGzip({ level: 6, blockSize, workers: 2 })));
      const expected = [6, 0].map((level, index) => {
        const block = input.subarray(index * blockSize, (index + 1) * blockSize);
        const member = gzipSync(block, { level, chunkSize: block.length + (block.length >> 10) + 1024 });
        member[9] = 3;
        return member;
      });
      assert.ok(output.equals(Buffer.concat(expected)), "the word-led block should be a level-6 member, the random one stored");
    });

    it("lends the buffers of stored members handed back to the workers again; the bytes stay the same", async () => {
      const input = randomBytes(12 << 20);
      const lentJobs = { count: 0 };
      const shared = gzipWorkerPool(2);
      const pool = {
        size: shared.size,
        gzip: (block: ArrayBuffer, length: number, options: GzipBlockOptions) => {
          if (options.output !== undefined) lentJobs.count++;
          return shared.gzip(block, length, options);
        },
      } as unknown as GzipWorkerPool;
      const run = async (giveBack: ((gz: ParallelGzip, member: Buffer) => void) | undefined): Promise<Buffer> => {
        const gz = new ParallelGzip({ pool, ...(giveBack ? { reuseMembers: true } : {}) });
        const members: Buffer[] = [];
        gz.on("data", (member: Buffer) => {
          members.push(Buffer.from(member)); // a copy: the original is handed back and filled again
          giveBack?.(gz, member);
        });
        await pipeline(Readable.from([input]), gz);
        return Buffer.concat(members);
      };
      const plain = await run(undefined);
      assert.equal(lentJobs.count, 0, "nothing lent when members are not handed back");
      const reused = await run((gz, member) => gz.giveBack(member));
      assert.ok(lentJobs.count >= 4, `only ${lentJobs.count} of 12 blocks were given a buffer handed back`);
      assert.ok(reused.equals(plain), "the same bytes whether the member's buffer was lent or made");
      assert.ok(gunzipSync(reused).equals(input));
      lentJobs.count = 0;
      await run((gz, member) => gz.giveBack(member.subarray(1))); // a piece of a member is not the member
      assert.equal(lentJobs.count, 0);
    });

    it("turns an empty input into one valid empty member", async () => {
      const output = await collect(Readable.from([]).pipe(new ParallelGzip()));
      assert.ok(gunzipSync(output).length === 0);
      const file = join(dir, "empty.gz");
      await writeFile(file, output);
      await runOk("gzip", ["-t", file]);
    });

    it("makes a layer tar that tar -tz lists", async () => {
      const cacheDir = join(dir, "tar-gz");
      const blob = await compressToCache(tarStream([memoryFile("app/main.py", "print(1)\n"), memoryFile("app/big.bin", DATA)]), { cacheDir });
      const { stdout } = await runOk("tar", ["-tzf", blob.path]);
      assert.deepEqual(stdout.trim().split("\n"), ["app/", "app/big.bin", "app/main.py"]);
    });
  });

  describe("gzip with pigz", () => {
    it("writes a valid, deterministic gzip stream whatever the thread count", async () => {
      const a = await compress({ gzip: "pigz", threads: 2 });
      const b = await compress({ gzip: "pigz", threads: 1 });
      await assertWellFormed(a, MediaType.OciLayerGzip);
      await runOk("gzip", ["-t", a.blob.path]);
      await assertDecompressesTo(a.blob.path, "gzip", a.blob.diffId);
      assert.equal(a.blob.descriptor.digest, b.blob.descriptor.digest);
      assert.equal(a.bytes.readUInt32LE(4), 0, "no mtime in the header");
      assert.equal(a.bytes[3]! & 0x08, 0, "no file name in the header");
      assert.match(a.blob.compressor, /^gzip\/pigz-\d+\.\d+/);
    });

    it("is a different implementation, with a different id, from the default", async () => {
      const pigz = await resolveCompressor({ gzip: "pigz" });
      const node = await resolveCompressor({});
      assert.notEqual(pigz.id, node.id);
    });
  });

  describe("zstd", () => {
    it("round-trips through zstd -d and is deterministic whatever the thread count", async () => {
      const a = await compress({ compression: "zstd", threads: 2 });
      const b = await compress({ compression: "zstd", threads: 1 });
      await assertWellFormed(a, MediaType.OciLayerZstd);
      await runOk("zstd", ["-t", "-q", a.blob.path]);
      await assertDecompressesTo(a.blob.path, "zstd", a.blob.diffId);
      assert.equal(a.blob.descriptor.digest, b.blob.descriptor.digest);
      assert.match(a.blob.compressor, /^zstd\/cli-\d+\.\d+\.\d+\/level-3$/);
    });

    it('uses node\'s zlib zstd only when asked, and says what to do when this node lacks it', async () => {
      const hasNodeZstd = typeof (zlib as unknown as Record<string, unknown>).createZstdCompress === "function";
      if (hasNodeZstd) {
        const result = await compress({ compression: "zstd", zstd: "node" });
        await assertWellFormed(result, MediaType.OciLayerZstd);
        await assertDecompressesTo(result.blob.path, "zstd", result.blob.diffId);
      } else {
        await assert.rejects(resolveCompressor({ compression: "zstd", zstd: "node" }), (e: unknown) => {
          assert.ok(e instanceof LayerError);
          assert.equal(e.code, "COMPRESSOR_UNAVAILABLE");
          assert.match(e.hint ?? "", /apt-get install zstd/);
          return true;
        });
      }
    });
  });

  it("stores an uncompressed layer as the tar itself", async () => {
    const result = await compress({ compression: "none" });
    await assertWellFormed(result, MediaType.OciLayerTar);
    assert.equal(result.blob.descriptor.digest, result.blob.diffId);
    assert.ok(result.bytes.equals(DATA));
  });

  it("names the package to install when a compressor program is missing", async () => {
    const saved = process.env.PATH;
    try {
      process.env.PATH = dir; // nothing executable here
      for (const [options, fix] of [
        [{ compression: "zstd" }, "apt-get install zstd"],
        [{ gzip: "pigz" }, "apt-get install pigz"],
      ] as const) {
        await assert.rejects(resolveCompressor(options), (e: unknown) => {
          assert.ok(e instanceof LayerError);
          assert.equal(e.code, "COMPRESSOR_UNAVAILABLE");
          assert.ok(e.hint?.includes(fix), `hint ${e.hint} should say ${fix}`);
          return true;
        });
      }
      // The default gzip needs no program at all.
      assert.equal((await resolveCompressor({})).compression, "gzip");
    } finally {
      process.env.PATH = saved;
    }
  });

  it("rejects levels out of range and unknown implementations", async () => {
    await assert.rejects(resolveCompressor({ level: 10 }), (e: unknown) => e instanceof LayerError && e.code === "LAYER_INVALID_OPTION");
    await assert.rejects(resolveCompressor({ compression: "zstd", level: 0 }), (e: unknown) => e instanceof LayerError && e.code === "LAYER_INVALID_OPTION");
    const unknownImplementation = { gzip: "zlib" } as unknown as CompressionOptions;
    await assert.rejects(resolveCompressor(unknownImplementation), (e: unknown) => e instanceof LayerError && e.code === "LAYER_INVALID_OPTION");
  });

  it("leaves nothing in the cache when the input fails", async () => {
    const cacheDir = join(dir, "failing");
    const failing = tarStream([{ path: "x", type: "file", mode: 0o644, size: 10, open: () => Readable.from([Buffer.from("short")]) }]);
    await assert.rejects(compressToCache(failing, { cacheDir }), (e: unknown) => e instanceof LayerError && e.code === "LAYER_SIZE_MISMATCH");
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it("fails with the program's message when an external compressor exits non-zero", async () => {
    const failing = new ProcessStream("sh", ["-c", "cat >/dev/null; echo 'out of cheese' >&2; exit 3"]);
    const output = collect(Readable.from([DATA]).pipe(failing));
    await assert.rejects(output, (e: unknown) => {
      assert.ok(e instanceof LayerError);
      assert.equal(e.code, "COMPRESSOR_FAILED");
      assert.match(e.message, /exited with code 3: out of cheese/);
      return true;
    });
  });
});
