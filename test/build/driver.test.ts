// The build driver's decisions across specs: a nested base goes through the same builder choice as
// any spec (a base with commands is built by a Dockerfile builder even when the spec on top of it is
// built natively); a base shared by several specs is built once, whichever builder builds it; and a
// base written to an OCI layout is read back from where it was written, not from a re-parsed string.
// The Dockerfile builder here is a fake Backend (given through createBackend) that "builds" by
// copying a test image to the target, so the driver runs exactly as with a real tool.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageBuilder, buildImage, type Backend, type BackendBuildRequest, type BuildEvent } from "../../src/build/index.js";
import { readLayoutImage } from "../../src/oci/index.js";
import { readConfig, type Registry } from "../../src/registry/index.js";
import { ImageSpec, imageName, type ImageSpecInput } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, skopeo, tempDir } from "../support/tools.js";

/** A Dockerfile builder that records each build (its target and FROM lines) and pushes a copy of `from` as the target. */
function fakeBackend(registry: Registry, from: () => string, builds: { image: string; from: string[] }[]): Backend {
  return {
    name: "docker",
    detect: () => Promise.resolve({ ok: true, name: "docker", version: "fake 1.0", path: "/fake/docker" }),
    invocations: () => [],
    build: async (request: BackendBuildRequest) => {
      const dockerfile = await readFile(request.context.dockerfile, "utf8");
      builds.push({ image: request.image, from: [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!) });
      await registry.copy(from(), request.image);
    },
  };
}

describe("build driver", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let work: string;
  const base = () => `${reg.host}/base/busybox:1`;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir();
    const image = await makeTestImage({ env: ["PATH=/bin"] });
    await registry.copy(image.ref, base());
    await image.cleanup();
  });
  after(async () => {
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  const spec = (fields: Partial<ImageSpecInput>, dir = work) => new ImageSpec({ registry: `${reg.host}/team`, baseImage: base(), ...fields } as ImageSpecInput, { baseDir: dir });

  it("builds a nested base with commands under builder auto with a Dockerfile builder, then the spec on top of it natively", async () => {
    const builds: { image: string; from: string[] }[] = [];
    const events: BuildEvent[] = [];
    const inner = spec({ name: "inner-cmds", commands: ["echo inner > /inner.txt"] });
    const outer = spec({ name: "outer-native", baseImage: inner, env: { LEVEL: "outer" } });
    const result = await buildImage(outer, {
      registry,
      cacheDir: join(work, "cache"),
      createBackend: () => fakeBackend(registry, base, builds),
      onEvent: (e) => events.push(e),
    });
    assert.equal(result.status, "built");
    const innerName = await imageName(inner);
    assert.deepEqual(builds, [{ image: innerName, from: [base()] }]);
    const chosen = events.filter((e): e is Extract<BuildEvent, { kind: "builder" }> => e.kind === "builder").map((e) => [e.image, e.builder]);
    assert.deepEqual(chosen, [
      [result.image, "native"],
      [innerName, "docker"],
    ]);
    // The outer image sits on what the Dockerfile builder pushed as the inner one.
    const manifest = JSON.parse((await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), `docker://${result.image}`])).stdout) as { annotations?: Record<string, string> };
    const pushed = await registry.exists(innerName);
    assert.equal(manifest.annotations?.["org.opencontainers.image.base.name"], innerName);
    assert.equal(manifest.annotations?.["org.opencontainers.image.base.digest"], pushed.present ? pushed.digest : "absent");
  });

  it("builds a base shared by two natively built specs once", async () => {
    const events: BuildEvent[] = [];
    const shared = spec({ name: "shared-native", env: { LEVEL: "shared" } });
    const a = spec({ name: "on-shared-a", baseImage: shared, env: { A: "1" } });
    const b = spec({ name: "on-shared-b", baseImage: shared, env: { B: "1" } });
    const builder = new ImageBuilder({ registry, cacheDir: join(work, "cache"), onEvent: (e) => events.push(e) });
    reg.resetRequests();
    try {
      const results = await Promise.all([builder.build(a), builder.build(b), builder.build(shared)]);
      assert.deepEqual(results.map((r) => r.status), ["built", "built", "built"]);
    } finally {
      await builder.close();
    }
    const sharedName = await imageName(shared);
    assert.equal(events.filter((e) => e.kind === "plan" && e.image === sharedName).length, 1);
    assert.equal(events.filter((e) => e.kind === "done" && e.image === sharedName).length, 1);
    const tag = sharedName.slice(sharedName.lastIndexOf(":") + 1);
    const manifestPuts = (await reg.requests()).filter((r) => r.method === "PUT" && r.path.endsWith(`/manifests/${tag}`));
    assert.equal(manifestPuts.length, 1, JSON.stringify(manifestPuts));
  });

  it("builds a base shared by two specs built with a Dockerfile builder once, and each FROM names it", async () => {
    const builds: { image: string; from: string[] }[] = [];
    const shared = spec({ name: "shared-df", commands: ["echo shared"] });
    const a = spec({ name: "df-on-shared-a", baseImage: shared, commands: ["echo a"] });
    const b = spec({ name: "df-on-shared-b", baseImage: shared, commands: ["echo b"] });
    const builder = new ImageBuilder({ registry, cacheDir: join(work, "cache"), createBackend: () => fakeBackend(registry, base, builds) });
    try {
      const results = await Promise.all([builder.build(a), builder.build(b)]);
      assert.deepEqual(results.map((r) => r.status), ["built", "built"]);
    } finally {
      await builder.close();
    }
    const sharedName = await imageName(shared);
    assert.deepEqual(builds.filter((x) => x.image === sharedName), [{ image: sharedName, from: [base()] }]);
    const on = builds.filter((x) => x.image !== sharedName);
    assert.deepEqual(on.map((x) => x.from).sort(), [[sharedName], [sharedName]]);
  });

  it("reads a nested base back from the OCI layout it was written to, even when the layout's path holds a colon", async () => {
    // No registry: both go to the default layout under the working folder, here a path with a colon
    // (a project folder may be named so). The base is read back from the layout value, not from `oci:DIR:TAG`.
    const project = join(work, "project:v2");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "src", "main.py"), "print('hi')\n");
    const inner = new ImageSpec({ name: "inner-local", baseImage: "scratch", env: { LEVEL: "inner" } }, { baseDir: project });
    const outer = new ImageSpec({ name: "outer-local", baseImage: inner, sourceRoot: "src" }, { baseDir: project });
    const cwd = process.cwd();
    process.chdir(project);
    let result;
    try {
      result = await buildImage(outer, { cacheDir: join(work, "cache") });
    } finally {
      process.chdir(cwd);
    }
    assert.equal(result.status, "built");
    assert.equal(result.location, `oci:${join(project, ".imagespec", "images")}:${result.image}`);
    // (skopeo cannot name such a layout: its oci:DIR:TAG ends the folder at the first colon.)
    const built = await readLayoutImage(join(project, ".imagespec", "images"), { tag: result.image });
    const env = (await readConfig(built.config)).config?.Env ?? [];
    assert.ok(env.includes("LEVEL=inner"), env.join(" "));

    // The output option may be the layout as a value, which no oci:DIR:TAG string could name here.
    const out = join(work, "out:put");
    const again = await buildImage(outer, { cacheDir: join(work, "cache"), output: { dir: out, tag: "outer" } });
    assert.equal(again.status, "built");
    assert.equal(again.location, `oci:${out}:outer`);
    assert.equal((await readLayoutImage(out, { tag: "outer" })).digest, again.digest);
  });

  it("writes a nested base under its own name when the output layout names a tag, so a forced rebuild does not take the old image for its base", async () => {
    const project = join(work, "tagged");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "src", "main.py"), "print('v1')\n");
    const inner = new ImageSpec({ name: "inner-tagged", baseImage: "scratch", env: { LEVEL: "inner" } }, { baseDir: project });
    // The layout's tag is the output's, not the spec's: only a forced build writes it again.
    const outer = new ImageSpec({ name: "outer-tagged", baseImage: inner, sourceRoot: "src", forcePush: true }, { baseDir: project });
    const out = join(work, "tagged-layout");
    const output = `oci:${out}:release`;
    const first = await buildImage(outer, { cacheDir: join(work, "cache"), output });
    await writeFile(join(project, "src", "main.py"), "print('v2')\n");
    const second = await buildImage(outer, { cacheDir: join(work, "cache"), output });
    assert.notEqual(second.digest, first.digest);
    assert.equal(second.location, `oci:${out}:release`);
    const innerTag = (await imageName(inner)).slice((await imageName(inner)).lastIndexOf("/") + 1);
    const base = await readLayoutImage(out, { tag: innerTag });
    const built = await readLayoutImage(out, { tag: "release" });
    // The inner image and one files layer: not the first outer image with a second files layer on top.
    assert.equal(built.layers.length, base.layers.length + 1);
    assert.deepEqual(built.layers.slice(0, base.layers.length).map((l) => l.descriptor.digest), base.layers.map((l) => l.descriptor.digest));
  });
});
