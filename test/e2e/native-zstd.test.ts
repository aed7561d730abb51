// `compression: zstd` end to end: the native builder writes zstd layers (base layers stay as they
// are), the registry takes them, skopeo reads the image, and podman (containers/image) pulls and
// runs it. The same spec in gzip has other layer digests but the same diffIDs: the tars are equal.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildSpec } from "../../src/build/index.js";
import { MediaType, type Image } from "../../src/oci/index.js";
import { readConfig, type Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { debianPythonBase, type DebianBase } from "../support/debian-base.js";
import { podmanRun } from "../support/podman.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, skopeo, tempDir } from "../support/tools.js";
import { buildFixtureWheels, type FixtureWheels } from "../support/wheels.js";

describe("native builder with zstd layers", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let wheels: FixtureWheels;
  let work: string;
  let base: DebianBase;

  before(async () => {
    base = await debianPythonBase({ arch: "amd64" });
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-zstd-");
    wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    await registry.copy(base.ref, `${reg.host}/debian/python:3.11`);
    await mkdir(join(work, "project", "src"), { recursive: true });
    await writeFile(join(work, "project", "src", "main.py"), "print('zstd app')\n");
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  const spec = (name: string) =>
    new ImageSpec(
      { name, registry: `${reg.host}/team`, baseImage: `${reg.host}/debian/python:3.11`, pythonVersion: "3.11", packages: ["fastmath==2.0", "greet"], pipIndex: index.url, sourceRoot: "src" },
      { baseDir: join(work, "project") },
    );

  it("builds, pushes and runs an image whose own layers are zstd", async () => {
    const zstd = await buildSpec(spec("zstd-app"), { registry, cacheDir: join(work, "cache-zstd"), compression: "zstd" });
    const gzip = await buildSpec(spec("gzip-app"), { registry, cacheDir: join(work, "cache-gzip") });
    const image = async (name: string, digest: string): Promise<Image> => registry.getImage(`${reg.host}/team/${name}@${digest}`);
    const [z, g] = [await image("zstd-app", zstd.digest!), await image("gzip-app", gzip.digest!)];
    const baseCount = (await registry.getImage(`${reg.host}/debian/python:3.11`)).layers.length;
    const own = (i: Image) => i.layers.slice(baseCount);
    assert.ok(own(z).length >= 2);
    assert.ok(own(z).every((l) => l.descriptor.mediaType === MediaType.OciLayerZstd), JSON.stringify(own(z).map((l) => l.descriptor.mediaType)));
    assert.ok(own(g).every((l) => l.descriptor.mediaType === MediaType.OciLayerGzip));
    assert.ok(own(z).every((l, i) => l.descriptor.digest !== own(g)[i]!.descriptor.digest));
    // The same tars under both: the configs list the same diffIDs.
    assert.deepEqual((await readConfig(z.config)).rootfs.diff_ids, (await readConfig(g.config)).rootfs.diff_ids);

    const inspected = JSON.parse((await skopeo(["inspect", "--tls-verify=false", "--raw", reg.ref(`team/zstd-app@${zstd.digest!}`)])).stdout) as { layers: { mediaType: string }[] };
    assert.equal(inspected.layers.at(-1)!.mediaType, MediaType.OciLayerZstd);
    const ran = await podmanRun(zstd.image, ["/bin/sh", "-c", "python3 -c 'import fastmath, greet; print(fastmath.add(2, 3), greet.greeting(\"zstd\"))' && python3 /root/main.py"]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(ran.stdout.trim().split("\n"), ["5 HELLO ZSTD!", "zstd app"]);
  });
});
