// Uploads that start while a layer is still being compressed, against a real docker-registry
// behind the fault proxy: the bytes leave before the layer is complete, the push that follows
// does not send them again, a blob the registry already holds stops being sent, and every failure
// leaves the push to send the blob the ordinary way, with nothing tagged that is not whole.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { compressToCache, type CompressedBlob } from "../../src/layer/index.js";
import { imageFromParts, type Blob } from "../../src/oci/index.js";
import type { Registry, RegistryLogEvent, RegistryOptions } from "../../src/registry/index.js";
import { assertNoBrokenTag, startFaultProxy, uploadedDigests, type FaultProxy } from "../support/fault-proxy.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";
import { registryFor } from "./util.js";
import { pipeline } from "node:stream/promises";
import { GrowingFile } from "../../src/layer/growing-file.js";
import { prefixed } from "../../src/registry/early-upload.js";
import { createReadStream } from "node:fs";

let reg: TestRegistry;
let proxy: FaultProxy;
let dir: string;
let seq = 0;
const open: Registry[] = [];

before(async () => {
  reg = await startRegistry({ mode: "plain" });
  proxy = await startFaultProxy(reg);
  dir = await tempDir("imagespec-early-");
});
after(async () => {
  for (const r of open) await r.close();
  await proxy?.stop();
  await reg?.stop();
  await removeDir(dir);
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetRequests();
});

let logs: RegistryLogEvent[] = [];

/** A Registry through the proxy; its log events go to `logs` (the latest one made). */
function viaProxy(options: RegistryOptions = {}): Registry {
  const made = registryFor(reg, { retry: { baseDelayMs: 5, maxDelayMs: 50 }, ...options });
  open.push(made.registry);
  logs = made.logs;
  return made.registry;
}

const earlyOutcomes = (): string[] => logs.flatMap((e) => (e.type === "early-upload" ? [e.outcome] : []));

const UPLOADS = /\/blobs\/uploads\//;

/**
 * A layer's tar in 2 MiB pieces (random: compression stores them, so the blob is about as big),
 * pausing before the last `holdBack` bytes until `gate` resolves.
 */
async function* tarPieces(data: Buffer, gate?: () => Promise<void>, holdBack = 4 << 20): AsyncGenerator<Buffer> {
  const step = 2 << 20;
  for (let at = 0; at < data.length; at += step) {
    if (gate && at >= data.length - holdBack && at - step < data.length - holdBack) await gate();
    await sleep(2);
    yield data.subarray(at, at + step);
  }
}

/** Compresses `tar` into a layer the registry starts receiving (uploadWhileWriting) as it is written. */
async function layerWhileUploading(registry: Registry, ref: string, tar: AsyncIterable<Buffer>): Promise<CompressedBlob> {
  return compressToCache(Readable.from(tar), { cacheDir: join(dir, "cache"), onGrowing: (blob) => registry.uploadWhileWriting(ref, blob) });
}

function imageOf(layer: CompressedBlob): ReturnType<typeof imageFromParts> {
  const blob: Blob = { descriptor: layer.descriptor, open: async () => createReadStream(layer.path) };
  return imageFromParts({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.diffId] }, config: {} }, [blob]);
}

describe("uploads while the layer is written", () => {
  it("sends the layer's bytes before it is complete, and the push does not send them again", async () => {
    const registry = viaProxy();
    const name = `${proxy.host}/early/app-${++seq}`;
    const data = randomBytes(24 << 20);
    // The last pieces wait until the upload has begun: it cannot have waited for the whole layer.
    const layer = await layerWhileUploading(registry, name, tarPieces(data, () => proxy.waitFor("PATCH", UPLOADS, 20_000)));
    const image = imageOf(layer);
    const pushed = await registry.push(`${name}:v1`, image);
    assert.equal(pushed.blobs.uploaded, 2, "the layer (sent early) and the config count as uploaded");
    const closed = uploadedDigests(proxy.requests);
    assert.equal(closed.filter((d) => d === layer.descriptor.digest).length, 1, "the layer's upload was closed once");
    assert.equal(proxy.requests.filter((r) => r.method === "POST" && UPLOADS.test(r.path)).length, 2, "one session for the layer, one for the config");
    const patches = proxy.requests.filter((r) => r.method === "PATCH");
    assert.equal(patches.length, 1, "the layer went up as one PATCH");
    assert.equal(patches[0]!.chunkedBody, true, "of unknown length: it started before the layer was complete");
    assert.equal(patches[0]!.status, 202);
    const layerHead = new RegExp(`^/v2/.*/blobs/${layer.descriptor.digest}$`);
    assert.ok(proxy.requests.some((r) => r.method === "HEAD" && layerHead.test(r.path) && r.status === 200), "the push still checked that the registry has the layer");
    assert.deepEqual(earlyOutcomes(), ["uploaded"]);
    assert.deepEqual(await assertNoBrokenTag(registry, reg.host, name.slice(proxy.host.length + 1)), ["v1"]);
  });

  it("leaves a layer under 4 MiB to the push: nothing is asked of the registry while it is written", async () => {
    const registry = viaProxy();
    const name = `${proxy.host}/early/small-${++seq}`;
    const layer = await layerWhileUploading(registry, name, tarPieces(randomBytes(3 << 20)));
    await sleep(50);
    assert.deepEqual(proxy.requests, [], "no request before the push");
    const pushed = await registry.push(`${name}:v1`, imageOf(layer));
    assert.equal(pushed.blobs.uploaded, 2);
    assert.equal(uploadedDigests(proxy.requests).filter((d) => d === layer.descriptor.digest).length, 1);
  });

  it("stops sending a blob the registry turns out to hold, cancels the session, and the push finds it there", async () => {
    const name = `${proxy.host}/early/again-${++seq}`;
    const data = randomBytes(24 << 20);
    const first = viaProxy();
    const layer = await layerWhileUploading(first, name, tarPieces(data));
    await first.push(`${name}:v1`, imageOf(layer));
    proxy.resetRequests();

    // Another runner, another process: the same layer made again.
    const second = viaProxy();
    const again = await layerWhileUploading(second, name, tarPieces(data, () => proxy.waitFor("PATCH", UPLOADS, 20_000)));
    assert.equal(again.descriptor.digest, layer.descriptor.digest);
    const pushed = await second.push(`${name}:v2`, imageOf(again));
    assert.equal(pushed.blobs.uploaded, 0);
    assert.equal(pushed.blobs.exists, 2);
    assert.deepEqual(uploadedDigests(proxy.requests), [], "no upload was closed: the registry had the blob");
    assert.ok(proxy.requests.some((r) => r.method === "DELETE" && UPLOADS.test(r.path)), "the abandoned session was cancelled");
    assert.deepEqual(earlyOutcomes(), ["exists"]);
    assert.deepEqual((await assertNoBrokenTag(second, reg.host, name.slice(proxy.host.length + 1))).sort(), ["v1", "v2"]);
  });

  it("an upload the network drops ends the head start; the push uploads the layer itself and the image is whole", async () => {
    const registry = viaProxy();
    const name = `${proxy.host}/early/dropped-${++seq}`;
    proxy.setRules([{ method: "PATCH", path: UPLOADS, fault: { kind: "reset-upload", afterBytes: 6 << 20 } }]);
    const layer = await layerWhileUploading(registry, name, tarPieces(randomBytes(24 << 20)));
    const pushed = await registry.push(`${name}:v1`, imageOf(layer));
    assert.equal(pushed.blobs.uploaded, 2);
    assert.ok(proxy.requests.some((r) => r.fault === "reset-upload" && r.chunkedBody), "the fault was hit, on the upload made while the layer was written");
    assert.deepEqual(earlyOutcomes(), ["dropped"]);
    assert.equal(uploadedDigests(proxy.requests).filter((d) => d === layer.descriptor.digest).length, 1, "closed once, by the push");
    assert.deepEqual(await assertNoBrokenTag(registry, reg.host, name.slice(proxy.host.length + 1)), ["v1"]);
  });

  it("a compression that fails part-way cancels the session and closes no upload", async () => {
    const registry = viaProxy();
    const name = `${proxy.host}/early/broken-${++seq}`;
    async function* broken(): AsyncGenerator<Buffer> {
      // Blocks still compressing lag behind the tar: enough is written for the upload to begin while it waits.
      yield* tarPieces(randomBytes(24 << 20));
      await proxy.waitFor("PATCH", UPLOADS, 20_000);
      throw new Error("the wheel could not be read");
    }
    await assert.rejects(layerWhileUploading(registry, name, broken()), /the wheel could not be read/);
    for (let i = 0; i < 200 && !proxy.requests.some((r) => r.method === "DELETE"); i++) await sleep(10);
    assert.ok(proxy.requests.some((r) => r.method === "DELETE" && UPLOADS.test(r.path)), "the session was cancelled");
    assert.deepEqual(uploadedDigests(proxy.requests), []);
  });

  it("a compression that fails while the repository hook is still running ends cleanly: no crash, no upload", async () => {
    // The hook holds the upload back, so the failure reaches the growing file before anything reads it.
    const registry = viaProxy({ beforePush: () => sleep(300) });
    const name = `${proxy.host}/early/slow-hook-${++seq}`;
    async function* broken(): AsyncGenerator<Buffer> {
      yield* tarPieces(randomBytes(24 << 20));
      throw new Error("the source went away");
    }
    await assert.rejects(layerWhileUploading(registry, name, broken()), /the source went away/);
    await sleep(600);
    assert.deepEqual(uploadedDigests(proxy.requests), []);
    assert.ok(!proxy.requests.some((r) => (r.method === "PATCH" || r.method === "POST") && UPLOADS.test(r.path)), "no upload was started for a layer that failed");
  });

  it("a push waiting for an upload still running stops when the push is cancelled", async () => {
    const registry = viaProxy();
    const name = `${proxy.host}/early/cancel-${++seq}`;
    // The registry answers the early PATCH only after a long delay: the upload is still running when the push starts.
    proxy.setRules([{ method: "PATCH", path: UPLOADS, fault: { kind: "delay", ms: 5_000 } }]);
    const layer = await layerWhileUploading(registry, name, tarPieces(randomBytes(12 << 20)));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error("cancelled by the caller")), 200);
    await assert.rejects(registry.push(`${name}:v1`, imageOf(layer), { signal: controller.signal }), /cancelled by the caller|aborted/i);
    assert.ok(Date.now() - started < 3_000, `the push stopped at once (${Date.now() - started} ms), not when the upload ended`);
  });

  it("is off with upload.whileWriting false and when an upload mode is set", async () => {
    for (const upload of [{ whileWriting: false }, { mode: "monolithic" as const }, { mode: "streaming" as const }, { mode: "chunked" as const }]) {
      proxy.resetRequests();
      const registry = viaProxy({ upload });
      const name = `${proxy.host}/early/off-${++seq}`;
      const layer = await layerWhileUploading(registry, name, tarPieces(randomBytes(12 << 20)));
      await sleep(50);
      assert.deepEqual(proxy.requests, [], `no request before the push (${JSON.stringify(upload)})`);
      await registry.push(`${name}:v1`, imageOf(layer));
      assert.equal(uploadedDigests(proxy.requests).filter((d) => d === layer.descriptor.digest).length, 1);
    }
  });
});

describe("the body of an early upload", () => {
  it("is the growing layer's own buffers, the chunks read first put back in front: nothing is copied", async () => {
    // Writes of 700 001 bytes read 1 MiB at a time: every read brings two or three pieces, which
    // a paused stream's read() would join into a new buffer.
    const file = GrowingFile.inMemory();
    const reader = file.reader(0, 1 << 20);
    const pieces = Array.from({ length: 12 }, () => randomBytes(700_001));
    const writing = pipeline(Readable.from(pieces), file.writable());
    const head = [reader.read() as Buffer | null ?? (await new Promise<Buffer>((resolve) => reader.once("readable", () => resolve(reader.read() as Buffer))))];
    const body = prefixed(head, reader);
    const received: Buffer[] = [];
    body.on("data", (chunk: Buffer) => received.push(chunk));
    await new Promise((resolve) => body.on("end", resolve));
    await writing;
    assert.ok(Buffer.concat(received).equals(Buffer.concat(pieces)), "every byte, in order");
    const written = new Set<ArrayBufferLike>(pieces.map((piece) => piece.buffer));
    const copies = received.slice(1).filter((chunk) => !written.has(chunk.buffer)).length;
    assert.equal(copies, 0, `${copies} of ${received.length - 1} chunks after the first were copies`);
  });
});
