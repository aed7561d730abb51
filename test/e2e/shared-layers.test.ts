// Two apps that share a large wheel, built by the native builder with caches that share nothing
// (as on two machines) and pushed to two repositories of one registry: the wheel's layer is the
// same blob in both images, and the second push mounts it from the first app's repository (the
// registry's access log shows no upload of it) instead of sending it again.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildSpec } from "../../src/build/index.js";
import type { Image } from "../../src/oci/index.js";
import { BlobLocations, type Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { debianPythonBase, type DebianBase } from "../support/debian-base.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";
import { buildFixtureWheels, type FixtureWheels } from "../support/wheels.js";

describe("shared layers: a second app with the same large wheel", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let wheels: FixtureWheels;
  let work: string;
  let base: DebianBase;

  before(async () => {
    base = await debianPythonBase({ arch: "amd64" });
    reg = await startRegistry({ mode: "plain" });
    work = await tempDir("imagespec-e2e-shared-");
    // The store the builds share (a CI cache would carry it); the layer caches are separate.
    registry = registryFor(reg, { blobLocations: new BlobLocations(join(work, "blob-locations.json")) }).registry;
    wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    await registry.copy(base.ref, `${reg.host}/debian/python:3.11`);
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  async function app(name: string, packages: string[]): Promise<ImageSpec> {
    const dir = join(work, name);
    await mkdir(join(dir, "src"), { recursive: true });
    await writeFile(join(dir, "src", "main.py"), `print(${JSON.stringify(name)})\n`);
    return new ImageSpec(
      { name, registry: `${reg.host}/team`, baseImage: `${reg.host}/debian/python:3.11`, pythonVersion: "3.11", packages, pipIndex: index.url, sourceRoot: "src" },
      { baseDir: dir },
    );
  }

  it("gives the wheel's layer one digest in both images, and the second push mounts it", async () => {
    // fastmath carries a real extension module: the one wheel above this threshold.
    const largeWheelBytes = wheels.fastmathAmd64.size - 1;
    for (const small of [wheels.greet, wheels.helper, wheels.modernOld]) assert.ok(small.size <= largeWheelBytes, `${small.filename} stays in the shared layer`);

    const first = await buildSpec(await app("first-app", ["fastmath==2.0", "greet"]), { registry, cacheDir: join(work, "cache-1"), largeWheelBytes });
    assert.equal(first.status, "built");
    reg.resetRequests();
    const second = await buildSpec(await app("second-app", ["fastmath==2.0", "modern==1.0"]), { registry, cacheDir: join(work, "cache-2"), largeWheelBytes });
    assert.equal(second.status, "built");
    const requests = await reg.requests();

    const imageOf = async (repository: string, digest: string): Promise<Image> => registry.getImage(`${reg.host}/team/${repository}@${digest}`);
    const [a, b] = [await imageOf("first-app", first.digest!), await imageOf("second-app", second.digest!)];
    const baseLayers = (await registry.getImage(`${reg.host}/debian/python:3.11`)).layers.map((l) => l.descriptor.digest);
    const own = (image: Image) => image.layers.map((l) => l.descriptor.digest).filter((d) => !baseLayers.includes(d));
    // Own layers: fastmath alone, the small wheels, the files.
    assert.equal(own(a).length, 3);
    assert.equal(own(b).length, 3);
    const shared = own(a).filter((d) => own(b).includes(d));
    assert.equal(shared.length, 1, "exactly the large wheel's layer is the same blob");
    const fastmathLayer = shared[0]!;
    assert.equal(own(a)[0], fastmathLayer, "large wheels come first");

    const mount = requests.filter((r) => r.method === "POST" && r.path.includes(`mount=${encodeURIComponent(fastmathLayer)}`));
    assert.deepEqual(
      mount.map((r) => [r.status, new URLSearchParams(r.path.split("?")[1]).get("from")]),
      [[201, "team/first-app"]],
      JSON.stringify(requests),
    );
    const uploaded = requests.filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/")).map((r) => new URLSearchParams(r.path.split("?")[1]).get("digest"));
    assert.ok(!uploaded.includes(fastmathLayer), "the shared layer is not uploaded again");
    // What the second app did upload: its config, its small-wheels layer, its files layer.
    assert.equal(uploaded.length, 3, JSON.stringify(requests));
  });
});
