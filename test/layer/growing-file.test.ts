// A file read while it is written: readers follow the writer, end only when it is complete, fail
// with it, and keep reading across the rename that gives the finished blob its digest name.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { open, readFile, rename, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { GrowingFile } from "../../src/layer/growing-file.js";
import { compressToCache } from "../../src/layer/index.js";
import { removeDir, tempDir } from "../support/tools.js";

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir("imagespec-growing-");
});
after(async () => {
  await removeDir(dir);
});

/** Counts reads through any FileHandle while `fn` runs: how often readers went back to the file. */
async function countingFileReads<T>(fn: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const probe = await open(join(dir, "probe"), "w");
  const proto = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const original = proto.read;
  let reads = 0;
  proto.read = function (this: FileHandle, ...args: unknown[]) {
    reads++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as FileHandle["read"];
  try {
    return { result: await fn(), reads };
  } finally {
    proto.read = original;
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Yields the pieces with a pause before each, so readers catch up with the writer. */
async function* slowly(pieces: readonly Buffer[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) {
    await sleep(5);
    yield piece;
  }
}

describe("GrowingFile", () => {
  it("a reader opened before the first byte gets every byte, in order, and ends once the writer is done", async () => {
    const path = join(dir, `f${++n}`);
    const file = await GrowingFile.create(path);
    const pieces = Array.from({ length: 12 }, (_, i) => randomBytes(100_000 + i * 7_001));
    const reader = file.reader();
    let ended = false;
    const read = collect(reader).then((bytes) => {
      ended = true;
      return bytes;
    });
    let endedBeforeWriterDone = false;
    const writer = file.writable();
    writer.on("finish", () => (endedBeforeWriterDone = ended));
    await pipeline(Readable.from(slowly(pieces)), writer);
    const bytes = await read;
    assert.equal(endedBeforeWriterDone, false, "the reader must not end while the file is still being written");
    assert.ok(bytes.equals(Buffer.concat(pieces)));
    assert.equal(file.size, bytes.length);
    assert.ok((await readFile(path)).equals(bytes));
  });

  it("a reader from an offset skips what came before it", async () => {
    const path = join(dir, `f${++n}`);
    const file = await GrowingFile.create(path);
    const data = randomBytes(3 << 20);
    const reader = file.reader(1_234_567);
    const [bytes] = await Promise.all([collect(reader), pipeline(Readable.from(slowly([data.subarray(0, 2 << 20), data.subarray(2 << 20)])), file.writable())]);
    assert.ok(bytes.equals(data.subarray(1_234_567)));
  });

  it("keeps reading after the file is renamed (the blob gets its digest name before the upload is done)", async () => {
    const path = join(dir, `f${++n}`);
    const file = await GrowingFile.create(path);
    const data = randomBytes(5 << 20);
    const reader = file.reader();
    await pipeline(Readable.from([data]), file.writable());
    await rename(path, `${path}-renamed`);
    assert.ok((await collect(reader)).equals(data));
  });

  it("a writer that fails takes its readers down with its error", async () => {
    const file = await GrowingFile.create(join(dir, `f${++n}`));
    const reader = file.reader();
    const read = collect(reader);
    read.catch(() => undefined); // asserted below
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(64 << 10);
      await sleep(5);
      throw new Error("the tar source failed");
    }
    await assert.rejects(pipeline(Readable.from(broken()), file.writable()), /the tar source failed/);
    await assert.rejects(read, /the tar source failed/);
  });

  it("gives the read size at a time, as soon as it is written, the rest at the end, as views of the writes", async () => {
    const file = await GrowingFile.create(join(dir, `f${++n}`));
    const readSize = 3 << 20;
    const reader = file.reader(0, readSize);
    const writes = Array.from({ length: 10 }, () => randomBytes(1 << 20));
    const total = writes.length << 20;
    const early: string[] = [];
    const pieces: Buffer[] = [];
    let received = 0;
    reader.on("data", (chunk: Buffer) => {
      pieces.push(chunk);
      received += chunk.length;
      // Nothing comes before the whole read size that holds it is written.
      const wanted = Math.min(Math.ceil(received / readSize) * readSize, total);
      if (file.size < wanted) early.push(`${received} bytes given when only ${file.size} were written`);
    });
    const ended = new Promise((resolve) => reader.on("end", resolve));
    await pipeline(Readable.from(slowly(writes)), file.writable());
    await ended;
    assert.deepEqual(early, []);
    assert.ok(Buffer.concat(pieces).equals(Buffer.concat(writes)));
    assert.ok(
      pieces.every((piece) => writes.some((write) => write.buffer === piece.buffer)),
      "every piece is a view of a write, not a copy",
    );
  });

  it("a reader that keeps up takes the bytes from memory, not from the file", async () => {
    const path = join(dir, `f${++n}`);
    const file = await GrowingFile.create(path);
    const pieces = Array.from({ length: 8 }, (_, i) => randomBytes(300_000 + i * 50_001));
    const { result: bytes, reads } = await countingFileReads(async () => {
      const reader = file.reader(0, 256 << 10);
      const [got] = await Promise.all([collect(reader), pipeline(Readable.from(slowly(pieces)), file.writable())]);
      return got;
    });
    assert.ok(bytes.equals(Buffer.concat(pieces)));
    assert.equal(reads, 0, "every piece was still in memory when the reader asked for it");
  });

  it("a reader far behind reads the older bytes back from the file and the rest from memory, across the seam", async () => {
    const path = join(dir, `f${++n}`);
    const file = await GrowingFile.create(path);
    // 24 MiB in odd sizes, all written before the reader asks for anything: more than memory keeps.
    const pieces = Array.from({ length: 34 }, () => randomBytes(740_001));
    const reader = file.reader(0, 1 << 20);
    await pipeline(Readable.from(pieces), file.writable());
    const { result: bytes, reads } = await countingFileReads(() => collect(reader));
    assert.ok(bytes.equals(Buffer.concat(pieces)));
    assert.ok(reads > 0, "the oldest bytes are no longer in memory");
    assert.ok(reads < Math.ceil(bytes.length / (1 << 20)), `the newest bytes come from memory (${reads} file reads)`);
  });

  it("keeps a copy of a small write that views a big buffer, not the big buffer (2 KiB members of zeros in 1 MiB chunks)", async () => {
    const file = await GrowingFile.create(join(dir, `f${++n}`));
    const reader = file.reader();
    const read = collect(reader);
    const pieces = Array.from({ length: 64 }, (_, i) => Buffer.alloc(1 << 20, i).subarray(0, 2048));
    const writer = file.writable();
    for (const piece of pieces) if (!writer.write(piece)) await new Promise((resolve) => writer.once("drain", resolve));
    const kept = (file as unknown as { recent: { bytes: Buffer }[] }).recent;
    assert.ok(kept.length > 0);
    for (const { bytes } of kept) assert.ok(bytes.buffer.byteLength <= 4 * bytes.length, `a ${bytes.length}-byte write keeps ${bytes.buffer.byteLength} bytes`);
    writer.end();
    assert.ok((await read).equals(Buffer.concat(pieces)));
  });

  it("refuses a reader once the file is complete and closed", async () => {
    const file = await GrowingFile.create(join(dir, `f${++n}`));
    await pipeline(Readable.from([Buffer.from("done")]), file.writable());
    assert.throws(() => file.reader(), /closed: open its readers before it is complete/);
  });

  it("never creates over an existing file", async () => {
    const path = join(dir, `f${++n}`);
    await pipeline(Readable.from([Buffer.from("x")]), (await GrowingFile.create(path)).writable());
    await assert.rejects(GrowingFile.create(path), { code: "EEXIST" });
  });
});

describe("GrowingFile in memory (no file)", () => {
  /** A reader that takes a piece, then waits `ms`: much slower than the writer. */
  async function slowRead(stream: Readable, ms: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      await sleep(ms);
    }
    return Buffer.concat(chunks);
  }

  it("the writer waits for a slow reader, which gets every byte; memory holds about 8 MiB, never the whole", async () => {
    const file = GrowingFile.inMemory();
    const read = slowRead(file.reader(0, 1 << 20), 3);
    const pieces = Array.from({ length: 40 }, () => randomBytes(700_001)); // 28 MiB in odd sizes
    const kept = file as unknown as { recentSize: number };
    let most = 0;
    const writer = file.writable();
    for (const piece of pieces) {
      if (!writer.write(piece)) await new Promise((resolve) => writer.once("drain", resolve));
      most = Math.max(most, kept.recentSize);
    }
    writer.end();
    assert.ok((await read).equals(Buffer.concat(pieces)), "every byte, in order");
    assert.ok(most <= (8 << 20) + 2 * 700_001, `at most ${most} bytes were held`);
  });

  it("hands a write's own buffer back only once it left memory and 32 MiB more were written, past every reader", async () => {
    const file = GrowingFile.inMemory();
    const pieces = Array.from({ length: 48 }, () => randomBytes(1 << 20));
    const position = new Map<Buffer, number>(pieces.map((piece, i) => [piece, i]));
    const reader = file.reader(0, 1 << 20);
    let readTo = 0;
    reader.on("data", (chunk: Buffer) => (readTo += chunk.length));
    const ended = new Promise((resolve) => reader.on("end", resolve));
    const handed: { index: number; written: number; readTo: number }[] = [];
    file.handBackTo((bytes) => handed.push({ index: position.get(bytes) ?? -1, written: file.size, readTo }));
    await pipeline(Readable.from(pieces), file.writable());
    await ended;
    assert.ok(handed.length > 0, "some were handed back");
    assert.deepEqual(
      handed.map((h) => h.index),
      handed.map((_, i) => i),
      "the written buffers themselves, oldest first",
    );
    for (const { index, written, readTo: read } of handed) {
      assert.ok(written - (index + 1) * (1 << 20) >= 32 << 20, `piece ${index} handed back with only ${written} bytes written`);
      assert.ok(read >= (index + 1) * (1 << 20), `piece ${index} handed back before the reader had it`);
    }
    assert.ok(handed.length <= 48 - 32, "none of the last 32 MiB: a reader's consumer may still hold them");
  });

  it("hands back only the buffers its taker wants, and holds no other past the window", async () => {
    const file = GrowingFile.inMemory();
    const pieces = Array.from({ length: 48 }, () => randomBytes(1 << 20));
    const wanted = new Set<Buffer>(pieces.filter((_, i) => i % 2 === 0));
    const handed: Buffer[] = [];
    file.handBackTo((bytes) => handed.push(bytes), (bytes) => wanted.has(bytes));
    const read = collect(file.reader(0, 1 << 20));
    await pipeline(Readable.from(pieces), file.writable());
    await read;
    assert.ok(handed.length > 0 && handed.every((bytes) => wanted.has(bytes)));
    const held = (file as unknown as { left: { bytes: Buffer }[] }).left;
    assert.ok(held.every(({ bytes }) => wanted.has(bytes)), "an unwanted buffer was held for the lag");
  });

  it("with no reader, each write is handed back at once; a file on disk hands back nothing", async () => {
    const memory = GrowingFile.inMemory();
    const pieces = Array.from({ length: 4 }, () => randomBytes(1 << 20));
    const handed: Buffer[] = [];
    memory.handBackTo((bytes) => handed.push(bytes));
    await pipeline(Readable.from(pieces), memory.writable());
    assert.equal(handed.length, 4);
    assert.ok(handed.every((bytes, i) => bytes === pieces[i]));

    const onDisk = await GrowingFile.create(join(dir, `hand-back-${n++}`));
    let told = 0;
    onDisk.handBackTo(() => told++);
    const read = collect(onDisk.reader());
    await pipeline(Readable.from(Array.from({ length: 48 }, () => randomBytes(1 << 20))), onDisk.writable());
    await read;
    assert.equal(told, 0);
  });

  it("once its reader is gone the writer drops what it writes and finishes", async () => {
    const file = GrowingFile.inMemory();
    const reader = file.reader();
    const pieces = Array.from({ length: 24 }, () => randomBytes(1 << 20));
    setTimeout(() => reader.destroy(), 20); // it never read a byte: the writer stops at 8 MiB until then
    await pipeline(Readable.from(pieces), file.writable());
    assert.ok((file as unknown as { recentSize: number }).recentSize <= 9 << 20);
  });

  it("a writer with no reader never waits", async () => {
    const file = GrowingFile.inMemory();
    await pipeline(Readable.from(Array.from({ length: 20 }, () => randomBytes(1 << 20))), file.writable());
    assert.equal(file.size, 20 << 20);
  });

  it("a reader waiting for more than memory keeps is given what there is, not left to wait for ever", async () => {
    const file = GrowingFile.inMemory();
    const read = collect(file.reader(0, 64 << 20));
    const pieces = Array.from({ length: 16 }, () => randomBytes(1 << 20));
    await pipeline(Readable.from(pieces), file.writable());
    assert.ok((await read).equals(Buffer.concat(pieces)));
  });

  it("a write waiting for a reader gives up when the writing fails (a tar source that cannot be read)", async () => {
    const file = GrowingFile.inMemory();
    const reader = file.reader(); // never read: the writer stops at 8 MiB
    reader.on("error", () => undefined);
    const writer = file.writable();
    writer.on("error", () => undefined);
    const callbacks = Array.from({ length: 10 }, () => new Promise((resolve) => writer.write(randomBytes(1 << 20), resolve)));
    await sleep(20);
    writer.destroy(new Error("the tar source failed"));
    const settled = await Promise.race([Promise.all(callbacks).then(() => "settled"), sleep(2000).then(() => "still waiting")]);
    assert.equal(settled, "settled");
  });

  it("a reader that takes nothing for the stall time is dropped with an error, and the writing goes on", async () => {
    const file = GrowingFile.inMemory({ stallMs: 50 });
    const reader = file.reader(); // never read: an upload the registry stopped reading
    const failed = new Promise<Error>((resolve) => reader.on("error", resolve));
    await pipeline(Readable.from(Array.from({ length: 24 }, () => randomBytes(1 << 20))), file.writable());
    assert.match((await failed).message, /took no bytes for 0\.05 s; the layer is written on without this reader/);
    assert.equal(file.size, 24 << 20);
  });

  it("refuses a reader opened after the first byte: it would have missed bytes nobody kept", async () => {
    const file = GrowingFile.inMemory();
    const writer = file.writable();
    await new Promise<void>((resolve, reject) => writer.write(Buffer.from("early"), (error) => (error ? reject(error) : resolve())));
    assert.throws(() => file.reader(), /read from its start, by readers opened before it is written/);
    writer.end();
  });
});

describe("compressToCache with onGrowing", () => {
  it("hands out the compressed bytes as they are written, and the descriptor once complete", async () => {
    const tar = randomBytes(6 << 20);
    let watched: Promise<Buffer> | undefined;
    let descriptor: Promise<{ digest: string; size: number }> | undefined;
    const blob = await compressToCache(Readable.from(slowly([tar.subarray(0, 3 << 20), tar.subarray(3 << 20)])), {
      cacheDir: join(dir, "cache"),
      onGrowing: (growing) => {
        watched = collect(growing.open());
        descriptor = growing.done;
      },
    });
    assert.ok(watched && descriptor, "onGrowing is called before compressToCache returns");
    const bytes = await watched;
    assert.ok(bytes.equals(await readFile(blob.path)), "the watcher saw exactly the cache file's bytes");
    assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, blob.descriptor.digest);
    assert.deepEqual(await descriptor, blob.descriptor);
  });

  it("a failed compression rejects done and fails the watcher's stream; no blob is left", async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(2 << 20);
      await sleep(5);
      throw new Error("wheel unreadable");
    }
    let watched: Promise<Buffer> | undefined;
    let done: Promise<unknown> | undefined;
    const cacheDir = join(dir, "cache-broken");
    await assert.rejects(
      compressToCache(Readable.from(broken()), {
        cacheDir,
        onGrowing: (growing) => {
          watched = collect(growing.open());
          watched.catch(() => undefined); // asserted below, once the compression has failed
          done = growing.done;
        },
      }),
      /wheel unreadable/,
    );
    await assert.rejects(watched!, /wheel unreadable/);
    await assert.rejects(done!, /wheel unreadable/);
    const { readdir } = await import("node:fs/promises");
    assert.deepEqual(await readdir(cacheDir), []);
  });
});
