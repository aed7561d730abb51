// OCI image layouts: skopeo reads what we write and we read what skopeo writes (images and
// indexes), tags move without disturbing other entries, blobs appear only whole and verified.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { bufferBlob, imageFromParts, isImageIndex, MediaType, sha256, type Blob, type Image, type ImageIndex } from "../../src/oci/index.js";
import { blobPath, listLayoutTags, parseLayoutReference, readLayout, readLayoutImage, readLayoutIndex, writeLayout } from "../../src/oci/layout.js";
import { makeMultiPlatformImage, makeTestImage, removeDir, skopeo, tempDir, type TestImage, type TestIndex } from "../support/tools.js";

async function skopeoOk(args: string[]): Promise<void> {
  const r = await skopeo(args);
  assert.equal(r.code, 0, `skopeo ${args.join(" ")}\n${r.stderr}`);
}

async function entries(dir: string): Promise<{ digest: string; name?: string }[]> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => ({ digest: m.digest, ...(m.annotations?.["org.opencontainers.image.ref.name"] ? { name: m.annotations["org.opencontainers.image.ref.name"] } : {}) }));
}

async function drain(blob: Blob): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blob.open()) chunks.push(chunk as Buffer);
  return sha256(Buffer.concat(chunks));
}

describe("layout references", () => {
  it("parses oci:DIR[:TAG] as skopeo does (the directory ends at the first colon)", () => {
    assert.deepEqual(parseLayoutReference("oci:/tmp/out:v1"), { dir: "/tmp/out", tag: "v1" });
    assert.deepEqual(parseLayoutReference("oci:out"), { dir: "out" });
    assert.deepEqual(parseLayoutReference("oci:out:example.com/app:v1"), { dir: "out", tag: "example.com/app:v1" });
    assert.throws(() => parseLayoutReference("oci::v1"), { code: "INVALID_REFERENCE" });
    assert.throws(() => parseLayoutReference("oci:out:"), { code: "INVALID_REFERENCE" });
    assert.throws(() => parseLayoutReference("docker://x"), { code: "INVALID_REFERENCE" });
  });
});

describe("OCI layouts", () => {
  let single: TestImage;
  let multi: TestIndex;
  let work: string;

  before(async () => {
    single = await makeTestImage({ busybox: false, layers: [{ "etc/layout": "one\n" }, { "etc/layout2": "two\n" }] });
    multi = await makeMultiPlatformImage({ busybox: false, layers: [{ "etc/layout": "multi\n" }] });
    work = await tempDir("imagespec-layout-");
  });

  after(async () => {
    await single.cleanup();
    await multi.cleanup();
    await removeDir(work);
  });

  it("skopeo reads a single image and an index we wrote, with the same digests", async () => {
    const ours = join(work, "ours");
    const image = (await readLayout(single.dir)) as Image;
    const index = (await readLayout(multi.dir)) as ImageIndex;
    const written = await writeLayout(ours, image, { tag: "single" });
    assert.equal(written.blobsWritten, 4); // config, two layers, manifest
    await writeLayout(ours, index, { tag: "multi" });
    assert.deepEqual(JSON.parse(await readFile(join(ours, "oci-layout"), "utf8")), { imageLayoutVersion: "1.0.0" });

    await skopeoOk(["copy", `oci:${ours}:single`, `oci:${join(work, "by-skopeo")}:single`]);
    await skopeoOk(["copy", "--all", `oci:${ours}:multi`, `oci:${join(work, "by-skopeo")}:multi`]);
    assert.deepEqual((await entries(join(work, "by-skopeo"))).sort((a, b) => (a.name ?? "").localeCompare(b.name ?? "")), [
      { digest: index.digest, name: "multi" },
      { digest: image.digest, name: "single" },
    ]);
  });

  it("reads layouts skopeo wrote, verifying every blob as it streams", async () => {
    const theirs = join(work, "theirs");
    await skopeoOk(["copy", single.ref, `oci:${theirs}:one`]);
    await skopeoOk(["copy", "--all", multi.ref, `oci:${theirs}:many`]);
    const image = await readLayoutImage(theirs, { tag: "one" });
    assert.equal(image.digest, single.manifest.digest);
    assert.deepEqual(await Promise.all(image.layers.map(drain)), single.layers.map((l) => l.digest));
    const index = await readLayoutIndex(theirs, { tag: "many" });
    assert.equal(index.digest, multi.index.digest);
    assert.deepEqual(await Promise.all(index.images.map((i) => drain(i.config))), multi.images.map((i) => i.config.digest));
    await assert.rejects(readLayoutIndex(theirs, { tag: "one" }), { code: "LAYOUT_INVALID" });
    const arm = await readLayout(theirs, { tag: "many", platform: "linux/arm64" });
    assert.ok(!isImageIndex(arm));
    assert.equal(arm.digest, multi.images[1]!.manifest.digest);
    assert.equal(await drain(arm.config), multi.images[1]!.config.digest);
  });

  it("moves a tag to a new image, keeps other entries, and skips blobs already present", async () => {
    const dir = join(work, "retag");
    const a = imageFromParts({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }, [bufferBlob(MediaType.OciLayerGzip, Buffer.from("a"))]);
    const b = imageFromParts({ architecture: "arm64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }, [bufferBlob(MediaType.OciLayerGzip, Buffer.from("a"))]);
    await writeLayout(dir, a, { tag: "t1" });
    await writeLayout(dir, b, { tag: "t2" });
    const again = await writeLayout(dir, b, { tag: "t1" });
    assert.equal(again.blobsWritten, 0);
    assert.equal(again.blobsExisting, 3);
    assert.deepEqual(await entries(dir), [
      { digest: b.digest, name: "t2" },
      { digest: b.digest, name: "t1" },
    ]);
    assert.deepEqual(await listLayoutTags(dir), ["t2", "t1"]);
    await assert.rejects(readLayout(dir), { code: "LAYOUT_TAG_REQUIRED" });
    await assert.rejects(readLayout(dir, { tag: "t3" }), (e: unknown) => {
      assert.equal((e as { code: string }).code, "LAYOUT_TAG_NOT_FOUND");
      assert.match((e as Error).message, /names: t2, t1/);
      return true;
    });
  });

  it("never shows a partial or unverified blob, and does not tag a failed write", async () => {
    const dir = join(work, "partial");
    const good = bufferBlob(MediaType.OciLayerGzip, randomBytes(100));
    const data = randomBytes(1 << 20);
    const failing: Blob = {
      descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length },
      open: async () => {
        let sent = false;
        return new Readable({
          read() {
            if (sent) return this.destroy(new Error("source broke"));
            sent = true;
            this.push(data.subarray(0, 1 << 19));
          },
        });
      },
    };
    const liarData = randomBytes(1000);
    const liar: Blob = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256("something else"), size: 1000 }, open: async () => Readable.from([liarData]) };
    const config = { architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } };
    await assert.rejects(writeLayout(dir, imageFromParts(config, [good, failing]), { tag: "broken" }), /source broke/);
    await assert.rejects(writeLayout(dir, imageFromParts(config, [liar]), { tag: "liar" }), { code: "DIGEST_MISMATCH" });
    const files = await readdir(join(dir, "blobs", "sha256"));
    assert.ok(files.includes(good.descriptor.digest.slice(7)), "whole blobs written before the failure stay");
    assert.ok(!files.includes(sha256(data).slice(7)));
    assert.ok(!files.includes(sha256("something else").slice(7)));
    assert.deepEqual(files.filter((f) => f.startsWith(".")), [], "no temporary files left");
    await assert.rejects(readFile(join(dir, "index.json")), { code: "ENOENT" });
  });

  it("reports a corrupted blob at the end of its stream, and a directory that is not a layout", async () => {
    const dir = join(work, "corrupt");
    const image = (await readLayout(single.dir)) as Image;
    await writeLayout(dir, image, { tag: "v1" });
    const layer = image.layers[0]!.descriptor;
    await writeFile(blobPath(dir, layer.digest), Buffer.alloc(layer.size, 0x42));
    const back = await readLayoutImage(dir);
    await assert.rejects(drain(back.layers[0]!), { code: "DIGEST_MISMATCH" });
    await assert.rejects(readLayout(join(work, "nothing")), { code: "LAYOUT_NOT_FOUND" });
  });
});
