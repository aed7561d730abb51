// The Registry facade against a real registry: existence (present / absent / error), missing
// repositories and tags, tag listing with pagination, delete, platform resolution, corruption
// detected while pulling, and copies between registries and layouts.
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isImageIndex, type Image, type ImageIndex } from "../../src/oci/index.js";
import { readLayout } from "../../src/oci/layout.js";
import { RegistryError, type Registry } from "../../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeMultiPlatformImage, makeTestImage, removeDir, tempDir, type TestImage, type TestIndex } from "../support/tools.js";
import { drain, layoutEntry, registryFor } from "./util.js";

describe("registry operations", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let small: TestImage;
  let multi: TestIndex;
  let image: Image;
  let index: ImageIndex;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    small = await makeTestImage({ busybox: false, layers: [{ "etc/ops": "one\n" }, { "etc/ops2": "two\n" }] });
    multi = await makeMultiPlatformImage({ busybox: false, layers: [{ "etc/ops": "multi\n" }] });
    image = (await readLayout(small.dir)) as Image;
    index = (await readLayout(multi.dir)) as ImageIndex;
    await registry.push(`${reg.host}/ops/app:v1`, image);
    await registry.push(`${reg.host}/ops/multi:v1`, index);
  });

  after(async () => {
    await registry.close();
    await reg.stop();
    await small.cleanup();
    await multi.cleanup();
  });

  it("exists() answers present with digest, media type and size in one HEAD", async () => {
    reg.resetRequests();
    assert.deepEqual(await registry.exists(`${reg.host}/ops/app:v1`), { present: true, digest: image.digest, mediaType: image.mediaType, size: image.manifestBytes.length });
    assert.deepEqual(await registry.exists(`${reg.host}/ops/multi@${index.digest}`), { present: true, digest: index.digest, mediaType: index.mediaType, size: index.indexBytes.length });
    assert.deepEqual(
      (await reg.requests()).map((r) => r.method),
      ["HEAD", "HEAD"],
    );
  });

  it("a missing repository is absent for exists() and NAME_UNKNOWN with a hint for getManifest()", async () => {
    assert.deepEqual(await registry.exists(`${reg.host}/ops/nothing-here:v1`), { present: false });
    await assert.rejects(registry.getManifest(`${reg.host}/ops/nothing-here:v1`), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, "NAME_UNKNOWN");
      assert.equal(e.status, 404);
      assert.match(e.message, /GET http:\/\/127\.0\.0\.1:\d+\/v2\/ops\/nothing-here\/manifests\/v1: 404 Not Found: NAME_UNKNOWN/);
      assert.match(e.hint ?? "", /repository ops\/nothing-here does not exist/);
      return true;
    });
    await assert.rejects(registry.listTags(`${reg.host}/ops/nothing-here`), { code: "NAME_UNKNOWN" });
  });

  it("a missing tag in an existing repository is absent, and MANIFEST_UNKNOWN for getManifest()", async () => {
    assert.deepEqual(await registry.exists(`${reg.host}/ops/app:nope`), { present: false });
    await assert.rejects(registry.getManifest(`${reg.host}/ops/app:nope`), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, "MANIFEST_UNKNOWN");
      assert.match(e.hint ?? "", /check the tag/);
      return true;
    });
  });

  it("lists tags", async () => {
    // distribution 2.8 ignores `n` and never paginates; Link pagination is covered in transport.test.ts.
    for (const tag of ["a", "b", "c", "d"]) await registry.push(`${reg.host}/ops/tags:${tag}`, image);
    assert.deepEqual((await registry.listTags(`${reg.host}/ops/tags`, { pageSize: 3 })).sort(), ["a", "b", "c", "d"]);
  });

  it("deletes a manifest by tag", async () => {
    await registry.push(`${reg.host}/ops/delete-me:v1`, image);
    await registry.delete(`${reg.host}/ops/delete-me:v1`);
    assert.deepEqual(await registry.exists(`${reg.host}/ops/delete-me:v1`), { present: false });
    await assert.rejects(registry.delete(`${reg.host}/ops/delete-me:v1`), { code: "MANIFEST_UNKNOWN" });
  });

  it("resolves an index per platform and says which platforms exist", async () => {
    const arm = await registry.getImage(`${reg.host}/ops/multi:v1`, "linux/arm64");
    assert.equal(arm.digest, multi.images[1]!.manifest.digest);
    const amd = await registry.getImage(`${reg.host}/ops/multi:v1`);
    assert.equal(amd.digest, multi.images[0]!.manifest.digest);
    await assert.rejects(registry.getImage(`${reg.host}/ops/multi:v1`, "linux/s390x"), (e: unknown) => {
      assert.equal((e as RegistryError).code, "PLATFORM_NOT_FOUND");
      assert.match((e as Error).message, /linux\/amd64, linux\/arm64/);
      return true;
    });
    await assert.rejects(registry.getIndex(`${reg.host}/ops/app:v1`), { code: "UNSUPPORTED_IMAGE" });
  });

  it("a blob corrupted in the registry fails at the end of its stream", async () => {
    await registry.push(`${reg.host}/ops/corrupt:v1`, image);
    const victim = image.layers[1]!.descriptor;
    const data = join(reg.dir, "storage", "docker", "registry", "v2", "blobs", "sha256", victim.digest.slice(7, 9), victim.digest.slice(7), "data");
    assert.ok((await readdir(join(data, ".."))).includes("data"));
    await writeFile(data, Buffer.alloc(victim.size, 0x41));
    const pulled = await registry.getImage(`${reg.host}/ops/corrupt:v1`);
    await assert.rejects(drain(pulled.layers[1]!), (e: unknown) => {
      assert.equal((e as RegistryError).code, "DIGEST_MISMATCH");
      assert.match((e as Error).message, new RegExp(victim.digest));
      return true;
    });
  });

  it("copies registry -> layout -> another registry, keeping digests, and one platform on request", async () => {
    const other = await startRegistry({ mode: "plain" });
    const dir = await tempDir("imagespec-copy-");
    try {
      const toLayout = await registry.copy(`${reg.host}/ops/multi:v1`, `oci:${dir}:saved`);
      assert.equal(toLayout.digest, index.digest);
      assert.equal((await layoutEntry(dir, "saved"))?.digest, index.digest);
      const toOther = await registry.copy(`oci:${dir}:saved`, `docker://${other.host}/copied/multi:v1`);
      assert.equal(toOther.push?.digest, index.digest);
      assert.equal((await registry.getIndex(`${other.host}/copied/multi:v1`)).digest, index.digest);
      const one = await registry.copy(`${reg.host}/ops/multi:v1`, `${other.host}/copied/arm:v1`, { platform: "linux/arm64" });
      assert.equal(one.digest, multi.images[1]!.manifest.digest);
      const pulled = await registry.get(`${other.host}/copied/arm:v1`);
      assert.ok(!isImageIndex(pulled));
    } finally {
      await other.stop();
      await removeDir(dir);
    }
  });
});
