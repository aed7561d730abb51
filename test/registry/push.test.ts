// Push behaviour against a real registry: existing blobs skipped, mounts across repositories,
// de-duplication, streamed and chunked uploads, verification while uploading, and no tag left
// behind by a push that fails half-way.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { bufferBlob, DigestingStream, imageFromParts, indexFromImages, MediaType, sha256, type Blob, type Image, type ImageConfig } from "../../src/oci/index.js";
import { readLayout } from "../../src/oci/layout.js";
import { layerFromFile } from "../../src/layer/layer.js";
import { RegistryError, type PushEvent, type Registry } from "../../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir, type TestImage } from "../support/tools.js";
import { drain, registryFor } from "./util.js";

function config(label: string): ImageConfig {
  return { architecture: "amd64", os: "linux", config: { Labels: { test: label } }, rootfs: { type: "layers", diff_ids: [] } };
}

function layer(data: Buffer): Blob {
  return bufferBlob(MediaType.OciLayerGzip, data);
}

/** A blob that streams `data` in 256 KiB pieces (not one buffer), as a real layer would. */
function streamedLayer(data: Buffer, descriptorOverride: Partial<Blob["descriptor"]> = {}): Blob {
  const base = bufferBlob(MediaType.OciLayerGzip, data);
  return {
    descriptor: { ...base.descriptor, ...descriptorOverride },
    open: async () =>
      Readable.from(
        (function* () {
          for (let at = 0; at < data.length; at += 256 << 10) yield data.subarray(at, at + (256 << 10));
        })(),
      ),
  };
}

/** A blob whose source fails after `goodBytes`. */
function failingLayer(size: number, goodBytes: number): Blob {
  const data = randomBytes(size);
  return {
    descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size },
    open: async () => {
      let sent = 0;
      return new Readable({
        read() {
          if (sent >= goodBytes) {
            this.destroy(new Error("the disk went away"));
            return;
          }
          const piece = data.subarray(sent, Math.min(goodBytes, sent + (64 << 10)));
          sent += piece.length;
          this.push(piece);
        },
      });
    },
  };
}

const uploadsOf = (reqs: { method: string; path: string }[], method: string): number =>
  reqs.filter((r) => r.method === method && r.path.includes("/blobs/uploads/")).length;

describe("push to a plain registry", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let busybox: TestImage;
  let image: Image;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    busybox = await makeTestImage();
    image = (await readLayout(busybox.dir)) as Image;
  });

  after(async () => {
    await registry.close();
    await reg.stop();
    await busybox.cleanup();
  });

  it("does not upload blobs the repository already has", async () => {
    const first = await registry.push(`${reg.host}/push/exists:v1`, image);
    assert.equal(first.blobs.uploaded, 2);
    reg.resetRequests();
    const second = await registry.push(`${reg.host}/push/exists:v2`, image);
    assert.deepEqual(second.blobs, { exists: 2, mounted: 0, uploaded: 0 });
    assert.equal(second.pushedBytes, image.manifestBytes.length);
    const reqs = await reg.requests();
    assert.equal(uploadsOf(reqs, "POST") + uploadsOf(reqs, "PATCH") + uploadsOf(reqs, "PUT"), 0, JSON.stringify(reqs));
    assert.equal(reqs.filter((r) => r.method === "HEAD" && r.path.includes("/blobs/") && r.status === 200).length, 2);
  });

  it("runs the repository hook before pushing, and a failing hook stops the push", async () => {
    const seen: string[] = [];
    const { registry: hooked } = registryFor(reg, {
      beforePush: async (ref) => {
        seen.push(`${ref.repository}:${ref.tag}`);
        if (ref.repository === "push/forbidden") throw new Error("repository may not be created");
      },
    });
    try {
      await hooked.push(`${reg.host}/push/hooked:v1`, image);
      await assert.rejects(hooked.push(`${reg.host}/push/forbidden:v1`, image), /may not be created/);
      assert.deepEqual(seen, ["push/hooked:v1", "push/forbidden:v1"]);
      assert.deepEqual(await hooked.exists(`${reg.host}/push/forbidden:v1`), { present: false });
    } finally {
      await hooked.close();
    }
  });

  it("uploads a digest once when two images and two concurrent pushes share it", async () => {
    const shared = layer(randomBytes(4096));
    const a = imageFromParts(config("a"), [shared, layer(randomBytes(100))]);
    const b = imageFromParts(config("b"), [shared, layer(randomBytes(200))]);
    const index = indexFromImages([
      { image: a, platform: { os: "linux", architecture: "amd64" } },
      { image: b, platform: { os: "linux", architecture: "arm64" } },
    ]);
    reg.resetRequests();
    const [viaIndex, viaImage] = await Promise.all([registry.push(`${reg.host}/push/dedup:index`, index), registry.push(`${reg.host}/push/dedup:a`, a)]);
    const reqs = await reg.requests();
    const sharedPuts = reqs.filter((r) => r.method === "PUT" && r.path.includes(`digest=${encodeURIComponent(shared.descriptor.digest)}`));
    assert.equal(sharedPuts.length, 1, JSON.stringify(reqs));
    assert.equal(viaIndex.blobs.uploaded + viaImage.blobs.uploaded, 5); // 2 configs + 3 distinct layers
    assert.equal((await registry.getIndex(`${reg.host}/push/dedup:index`)).digest, index.digest);
  });

  it("streams a large blob in one PATCH and reports progress", async () => {
    const data = randomBytes(3 << 20);
    const big = imageFromParts(config("big"), [streamedLayer(data)]);
    const events: PushEvent[] = [];
    reg.resetRequests();
    const result = await registry.push(`${reg.host}/push/big:v1`, big, { onProgress: (e) => events.push(e) });
    const reqs = await reg.requests();
    assert.equal(uploadsOf(reqs, "PATCH"), 1);
    assert.equal(result.pushedBytes, data.length + big.config.descriptor.size + big.manifestBytes.length);
    const digest = sha256(data);
    const mine = events.filter((e) => e.type === "blob" && e.digest === digest);
    const uploading = mine.filter((e) => e.status === "uploading").map((e) => (e.status === "uploading" ? e.bytes : -1));
    assert.ok(uploading.length >= 3, `progress events: ${uploading.join(",")}`);
    assert.equal(uploading.at(-1), data.length);
    assert.equal(mine.at(-1)?.status, "uploaded");
    assert.deepEqual(events.at(-1), { type: "manifest", status: "pushed", digest: big.digest, mediaType: big.mediaType, reference: `${reg.host}/push/big:v1@${big.digest}` });
    const back = await registry.getImage(`${reg.host}/push/big:v1`);
    assert.deepEqual(await drain(back.layers[0]!), { digest, size: data.length });
  });

  it("uploads in chunks of the configured size when asked to", async () => {
    const { registry: chunky } = registryFor(reg, { upload: { mode: "chunked", chunkSize: 1 << 20 } });
    try {
      const data = randomBytes((5 << 20) / 2);
      const img = imageFromParts(config("chunked"), [streamedLayer(data)]);
      reg.resetRequests();
      await chunky.push(`${reg.host}/push/chunked:v1`, img);
      const reqs = await reg.requests();
      // Config (tiny) and layer (2.5 MiB) in 1 MiB chunks: 1 + 3 PATCHes.
      assert.equal(uploadsOf(reqs, "PATCH"), 4, JSON.stringify(reqs));
      const back = await chunky.getImage(`${reg.host}/push/chunked:v1`);
      assert.equal((await drain(back.layers[0]!)).digest, sha256(data));
    } finally {
      await chunky.close();
    }
  });

  it("leaves no tag when a blob's source fails half-way", async () => {
    const broken = imageFromParts(config("broken"), [layer(randomBytes(1000)), failingLayer(3 << 20, 1 << 20)]);
    await assert.rejects(registry.push(`${reg.host}/push/broken:v1`, broken), (e: unknown) => {
      assert.equal((e as RegistryError).code, "BLOB_READ_FAILED");
      assert.match((e as Error).message, /the disk went away/);
      return true;
    });
    assert.deepEqual(await registry.exists(`${reg.host}/push/broken:v1`), { present: false });
  });

  it("leaves no tag when the push is aborted", async () => {
    const controller = new AbortController();
    const slow: Blob = {
      descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(Buffer.alloc(4 << 20)), size: 4 << 20 },
      open: async () => {
        let sent = 0;
        return new Readable({
          read() {
            if (sent === 1 << 20) controller.abort(new Error("stopped by the test"));
            if (sent >= 4 << 20) return this.push(null);
            sent += 256 << 10;
            this.push(Buffer.alloc(256 << 10));
          },
        });
      },
    };
    const img = imageFromParts(config("aborted"), [slow]);
    await assert.rejects(registry.push(`${reg.host}/push/aborted:v1`, img, { signal: controller.signal }), { code: "ABORTED" });
    assert.deepEqual(await registry.exists(`${reg.host}/push/aborted:v1`), { present: false });
  });

  it("pushes a blob whose source reports its end late, after the registry already has every byte", async () => {
    const data = randomBytes(3 << 20);
    const late: Blob = {
      descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length },
      open: async () => {
        let sent = false;
        return new Readable({
          read() {
            if (sent) return;
            sent = true;
            this.push(data);
            // The end comes well after the registry has answered the upload.
            setTimeout(() => this.push(null), 1500);
          },
        });
      },
    };
    await registry.push(`${reg.host}/push/late:v1`, imageFromParts(config("late"), [late]));
    assert.equal((await registry.exists(`${reg.host}/push/late:v1`)).present, true);
  });

  it("pushes a blob that checks itself and reports its end late, after the registry already has every byte", async () => {
    const data = randomBytes(3 << 20);
    const late: Blob = {
      descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length },
      verifiesItself: true,
      open: async () => {
        let sent = false;
        const raw = new Readable({
          read() {
            if (sent) return;
            sent = true;
            this.push(data);
            setTimeout(() => this.push(null), 1500);
          },
        });
        return raw.pipe(new DigestingStream({ digest: sha256(data), size: data.length }));
      },
    };
    await registry.push(`${reg.host}/push/late-self-checking:v1`, imageFromParts(config("late-self-checking"), [late]));
    assert.equal((await registry.exists(`${reg.host}/push/late-self-checking:v1`)).present, true);
  });

  it("rejects a blob longer than its descriptor says, and tags nothing", async () => {
    const data = randomBytes(3 << 20);
    const long = streamedLayer(data, { size: 2 << 20 });
    await assert.rejects(registry.push(`${reg.host}/push/long:v1`, imageFromParts(config("long"), [long])), { code: "DIGEST_MISMATCH" });
    assert.deepEqual(await registry.exists(`${reg.host}/push/long:v1`), { present: false });
  });

  it("pushes a file layer that checks itself without hashing it again, and still refuses one damaged on disk before the closing PUT", async () => {
    const dir = await tempDir("push-self-checking-");
    try {
      const data = randomBytes(3 << 20);
      const path = join(dir, "layer.tar.gz");
      await writeFile(path, data);
      const good = await layerFromFile(path, { digest: sha256(data), diffId: sha256(Buffer.from("tar")) });
      assert.equal(good.verifiesItself, true);
      await registry.push(`${reg.host}/push/self-checking:v1`, imageFromParts(config("self-checking"), [good]));
      const back = await registry.getImage(`${reg.host}/push/self-checking:v1`);
      assert.equal((await drain(back.layers[0]!)).digest, sha256(data));

      // The same file changed on disk after the layer was made: same size, other bytes.
      const damaged = Buffer.from(data);
      damaged[damaged.length - 1]! ^= 0xff;
      await writeFile(path, damaged);
      reg.resetRequests();
      await assert.rejects(registry.push(`${reg.host}/push/self-checking-damaged:v1`, imageFromParts(config("self-checking-damaged"), [good])), (e: unknown) => {
        assert.equal((e as RegistryError).code, "BLOB_READ_FAILED");
        assert.match((e as Error).message, new RegExp(sha256(damaged)));
        return true;
      });
      const reqs = await reg.requests();
      assert.equal(reqs.filter((r) => r.method === "PUT" && r.path.includes(encodeURIComponent(sha256(data)))).length, 0, JSON.stringify(reqs));
      assert.equal(await registry.client(reg.host).hasBlob("push/self-checking-damaged", sha256(data), ["repository:push/self-checking-damaged:pull"]), false);
      assert.deepEqual(await registry.exists(`${reg.host}/push/self-checking-damaged:v1`), { present: false });
    } finally {
      await removeDir(dir);
    }
  });

  for (const size of [2000, 2 << 20]) {
    it(`rejects a blob whose content does not match its digest (${size} bytes) and tags nothing`, async () => {
      const claimed = randomBytes(size);
      const actual = randomBytes(size);
      const liar = streamedLayer(actual, { digest: sha256(claimed), size });
      const img = imageFromParts(config(`liar-${size}`), [liar]);
      await assert.rejects(registry.push(`${reg.host}/push/liar:v${size}`, img), (e: unknown) => {
        assert.equal((e as RegistryError).code, "DIGEST_MISMATCH");
        assert.match((e as Error).message, new RegExp(sha256(actual)));
        return true;
      });
      assert.deepEqual(await registry.exists(`${reg.host}/push/liar:v${size}`), { present: false });
      const client = registry.client(reg.host);
      assert.equal(await client.hasBlob(`push/liar`, sha256(claimed), ["repository:push/liar:pull"]), false);
    });
  }
});

describe("push to a token registry", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let busybox: TestImage;

  before(async () => {
    reg = await startRegistry({ mode: "token" });
    registry = registryFor(reg).registry;
    busybox = await makeTestImage({ layers: [{ "etc/mount": "me\n" }] });
  });

  after(async () => {
    await registry.close();
    await reg.stop();
    await busybox.cleanup();
  });

  it("mounts blobs from another repository instead of uploading them", async () => {
    await registry.push(`${reg.host}/team/source:v1`, (await readLayout(busybox.dir)) as Image);
    const pulled = await registry.getImage(`${reg.host}/team/source:v1`);
    assert.deepEqual(pulled.layers[0]!.sources, [{ registry: reg.host, repository: "team/source" }]);
    reg.resetRequests();
    const result = await registry.push(`${reg.host}/team/target:v1`, pulled);
    assert.deepEqual(result.blobs, { exists: 0, mounted: 3, uploaded: 0 });
    const reqs = await reg.requests();
    const mounts = reqs.filter((r) => r.method === "POST" && r.path.includes("mount=") && r.path.includes("from=team%2Fsource"));
    assert.equal(mounts.length, 3, JSON.stringify(reqs));
    assert.ok(mounts.every((r) => r.status === 201));
    assert.equal(uploadsOf(reqs, "PATCH"), 0);
    // The token for the mount asked for push on the target and pull on the source.
    const scopes = reg.tokenRequests().map((t) => [...t.scopes].sort().join(" "));
    assert.ok(scopes.includes("repository:team/source:pull repository:team/target:pull,push"), scopes.join("\n"));
  });
});
