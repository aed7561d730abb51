// ImageBuilder's decisions before any tool runs: the existence check comes first and an error from
// it stops the build (never read as "exists"); where a Dockerfile build cannot go; what --builder
// native means for a spec that needs more.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildImage, createBackend, type BackendName, type BackendsConfig, type BuildEvent } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec, imageName, type ImageSpecInput } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir } from "../support/tools.js";

describe("ImageBuilder", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let work: string;
  const looked: BackendName[] = [];
  const counting = (name: BackendName, config: BackendsConfig) => {
    looked.push(name);
    return createBackend(name, config);
  };

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir();
    const image = await makeTestImage();
    await registry.copy(image.ref, `${reg.host}/base/busybox:1`);
    await image.cleanup();
  });
  after(async () => {
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  const spec = (fields: Partial<ImageSpecInput> = {}) => new ImageSpec({ name: "app", registry: `${reg.host}/team`, baseImage: `${reg.host}/base/busybox:1`, commands: ["echo hi"], ...fields }, { baseDir: work });

  it("stops on an existence check that fails, before any Dockerfile builder is looked for", async () => {
    const dead = await startRegistry({ mode: "plain" });
    const host = dead.host;
    await dead.stop();
    looked.length = 0;
    const events: BuildEvent[] = [];
    await assert.rejects(
      buildImage(new ImageSpec({ name: "app", registry: `${host}/team`, baseImage: `${reg.host}/base/busybox:1`, commands: ["echo hi"] }), {
        registry,
        createBackend: counting,
        onEvent: (e) => events.push(e),
      }),
      (e: Error) => {
        assert.doesNotMatch(e.message, /exists/);
        return true;
      },
    );
    assert.deepEqual(looked, []);
    assert.deepEqual(events.map((e) => e.kind), ["plan"]);
  });

  it("an image whose tag exists is not built: no builder is looked for", async () => {
    const s = spec();
    const name = await imageName(s);
    const existing = await makeTestImage({ layers: [{ "etc/marker": "x" }] });
    await registry.copy(existing.ref, name);
    await existing.cleanup();
    looked.length = 0;
    const events: BuildEvent[] = [];
    const result = await buildImage(s, { registry, createBackend: counting, onEvent: (e) => events.push(e) });
    assert.equal(result.status, "exists");
    assert.equal(result.digest, existing.manifest.digest);
    assert.deepEqual(looked, []);
    assert.deepEqual(events.map((e) => e.kind), ["plan", "exists"]);
    // forcePush builds anyway, so the builder is looked for (and, with none on PATH, the build fails saying so).
    await assert.rejects(
      buildImage(s.forcePush(), { registry, createBackend: counting, backends: { env: { PATH: work } } }),
      (e: Error & { code?: string }) => e.code === "NO_DOCKERFILE_BUILDER",
    );
    assert.deepEqual(looked, ["docker", "podman", "buildah", "buildkit"]);
  });

  it("a Dockerfile build needs a registry: no registry or an OCI layout output is refused with what to do", async () => {
    await assert.rejects(buildImage(spec({ registry: undefined }), { registry }), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, "DOCKERFILE_NEEDS_REGISTRY");
      assert.match(e.message, /the spec names no registry/);
      assert.match(e.hint ?? "", /set the spec's registry/);
      return true;
    });
    await assert.rejects(buildImage(spec(), { registry, output: `oci:${work}/out` }), /an OCI layout output was asked for/);
  });

  it("--builder native for a spec with commands is refused, naming the fields; builder auto without blockers goes native", async () => {
    await assert.rejects(buildImage(spec(), { registry, builder: "native" }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "INVALID_BUILDER");
      assert.match(e.message, /--builder native was given, but the native builder cannot build commands/);
      return true;
    });
    const events: BuildEvent[] = [];
    const result = await buildImage(spec({ commands: [], env: { NATIVE: "1" } }), { registry, cacheDir: `${work}/cache`, createBackend: counting, onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    const chosen = events.find((e) => e.kind === "builder");
    assert.deepEqual(chosen, { kind: "builder", image: result.image, builder: "native", reason: "the native builder can build every field of the spec" });
    assert.ok(events.some((e) => e.kind === "done"));
  });
});
