// imagespec <-> skopeo in both directions, on every registry mode (plain, basic, tls, token), for a
// single-platform image and a two-platform index: what one pushes the other reads, digest for digest.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { isImageIndex } from "../../src/oci/index.js";
import { readLayout } from "../../src/oci/layout.js";
import type { Registry } from "../../src/registry/index.js";
import { startRegistry, type RegistryMode, type TestRegistry } from "../support/registry.js";
import { makeMultiPlatformImage, makeTestImage, removeDir, skopeo, tempDir, type TestImage, type TestIndex } from "../support/tools.js";
import { drain, layoutEntry, registryFor, sha256 } from "./util.js";

let single: TestImage;
let multi: TestIndex;

before(async () => {
  single = await makeTestImage({ layers: [{ "etc/roundtrip": "single\n" }] });
  multi = await makeMultiPlatformImage({ busybox: false, layers: [{ "etc/roundtrip": "multi\n" }] });
});

after(async () => {
  await single.cleanup();
  await multi.cleanup();
});

async function skopeoOk(args: string[]): Promise<string> {
  const r = await skopeo(args);
  assert.equal(r.code, 0, `skopeo ${args.join(" ")}\n${r.stderr}`);
  return r.stdout;
}

for (const mode of ["plain", "basic", "tls", "token"] as RegistryMode[]) {
  describe(`round trip, ${mode} registry`, () => {
    let reg: TestRegistry;
    let registry: Registry;
    let out: string;

    before(async () => {
      reg = await startRegistry({ mode });
      registry = registryFor(reg).registry;
      out = await tempDir("imagespec-roundtrip-");
    });

    after(async () => {
      await registry.close();
      await reg.stop();
      await removeDir(out);
    });

    it("we push a single image; skopeo reads it back with the same digests", async () => {
      const image = await readLayout(single.dir, { tag: single.tag });
      const result = await registry.push(`${reg.host}/rt/single:v1`, image);
      assert.equal(result.digest, single.manifest.digest);
      assert.deepEqual(result.blobs, { exists: 0, mounted: 0, uploaded: 1 + single.layers.length });

      const raw = await skopeoOk(["inspect", "--raw", ...reg.skopeoArgs("single"), reg.ref("rt/single:v1")]);
      assert.equal(sha256(raw), single.manifest.digest);
      // skopeo copy verifies every blob it downloads against its digest.
      await skopeoOk(["copy", ...reg.skopeoArgs("src"), reg.ref("rt/single:v1"), `oci:${join(out, "single")}:back`]);
      assert.equal((await layoutEntry(join(out, "single"), "back"))?.digest, single.manifest.digest);
    });

    it("we push a two-platform index; skopeo copies it all back with the same digests", async () => {
      const index = await readLayout(multi.dir, { tag: multi.tag });
      assert.ok(isImageIndex(index));
      const result = await registry.push(`${reg.host}/rt/multi:v1`, index);
      assert.equal(result.digest, multi.index.digest);
      assert.equal(result.manifests.pushed, 3);

      await skopeoOk(["copy", "--all", ...reg.skopeoArgs("src"), reg.ref("rt/multi:v1"), `oci:${join(out, "multi")}:back`]);
      assert.equal((await layoutEntry(join(out, "multi"), "back"))?.digest, multi.index.digest);
    });

    it("skopeo pushes a single image; we pull it and every blob verifies", async () => {
      await skopeoOk(["copy", ...reg.skopeoArgs("dest"), single.ref, reg.ref("rt/from-skopeo:v1")]);
      const image = await registry.getImage(`${reg.host}/rt/from-skopeo:v1`);
      assert.equal(image.digest, single.manifest.digest);
      assert.equal(image.config.descriptor.digest, single.config.digest);
      for (const [i, layer] of image.layers.entries()) {
        assert.deepEqual(await drain(layer), { digest: single.layers[i]!.digest, size: single.layers[i]!.size });
      }
      assert.deepEqual(await registry.exists(`${reg.host}/rt/from-skopeo:v1`), {
        present: true,
        digest: single.manifest.digest,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        size: single.manifestBytes.length,
      });
    });

    it("skopeo pushes a two-platform index; we pull the index and pick platforms", async () => {
      await skopeoOk(["copy", "--all", ...reg.skopeoArgs("dest"), multi.ref, reg.ref("rt/multi-skopeo:v1")]);
      const index = await registry.getIndex(`${reg.host}/rt/multi-skopeo:v1`);
      assert.equal(index.digest, multi.index.digest);
      assert.deepEqual(
        index.images.map((i) => i.digest),
        multi.images.map((i) => i.manifest.digest),
      );
      const arm = await registry.getImage(`${reg.host}/rt/multi-skopeo:v1`, "linux/arm64/v8");
      const armSource = multi.images.find((i) => i.platform.architecture === "arm64")!;
      assert.equal(arm.digest, armSource.manifest.digest);
      for (const [i, layer] of arm.layers.entries()) assert.equal((await drain(layer)).digest, armSource.layers[i]!.digest);
    });
  });
}
