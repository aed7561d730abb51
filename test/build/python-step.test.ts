// The Python step on a small python.org-style base made by the tests (an interpreter path and a
// lib directory are all discovery needs; nothing runs): wheels resolved by the host's pip against
// a local index, laid into a layer read back with tar, then the local step cache, refresh, an
// unreadable registry cache, and the builder's warnings and PATH handling.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { buildSpec, type BuildEvent } from "../../src/build/index.js";
import { stepCacheArtifact } from "../../src/build/python-record.js";
import { cacheTag } from "../../src/build/step-keys.js";
import { withScriptsOnPath } from "../../src/build/steps/run.js";
import { runPythonStep, type PythonStepOptions, type PythonStepProgress } from "../../src/build/python-step.js";
import { resolveCompressor, type FileLayer } from "../../src/layer/index.js";
import { parsePlatform, readLayoutImage, sha256, type ImageConfig } from "../../src/oci/index.js";
import { parseReference } from "../../src/reference/index.js";
import { readConfig, type Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, runOk, tempDir, type TestImage } from "../support/tools.js";
import { buildFixtureWheels, type FixtureWheels } from "../support/wheels.js";

const SITE = "usr/local/lib/python3.11/site-packages";

describe("python step", () => {
  let work: string;
  let wheels: FixtureWheels;
  let index: PypiIndex;
  let baseImage: TestImage;
  let base: PythonStepOptions["base"];
  let compressor: string;
  let reg: TestRegistry;
  let registry: Registry;

  before(async () => {
    work = await tempDir("imagespec-python-step-");
    wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    baseImage = await makeTestImage({
      busybox: false,
      env: ["PATH=/usr/local/bin:/usr/bin:/bin"],
      layers: [{ "usr/local/bin/python3.11": "elf", "usr/local/bin/python3": { symlink: "python3.11" }, "usr/local/lib/python3.11/os.py": "" }],
    });
    const image = await readLayoutImage(baseImage.dir, { tag: baseImage.tag });
    base = { config: await readConfig(image.config), layers: image.layers, reference: "example.com/python:3.11" };
    compressor = (await resolveCompressor()).id;
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
  });
  after(async () => {
    await index.stop();
    await registry.close();
    await reg.stop();
    await baseImage.cleanup();
    await removeDir(work);
  });

  const options = (cacheDir: string, extra: Partial<PythonStepOptions> = {}): PythonStepOptions => ({
    requirements: { packages: ["greet"], indexUrl: index.url },
    platform: parsePlatform("linux/amd64"),
    base,
    cacheDir,
    compression: {},
    identity: { compressor, epoch: 0 },
    ...extra,
  });

  async function tarList(path: string): Promise<string[]> {
    return (await runOk("tar", ["-tzf", path])).stdout.split("\n").filter(Boolean);
  }

  it("installs the resolved wheels into one layer, then reuses it from the local cache without pip", async () => {
    const cacheDir = join(work, "cache");
    index.resetRequests();
    const built = await runPythonStep(options(cacheDir));
    assert.deepEqual([built.source, built.resolved, built.python.interpreter, built.target.pythonVersion], ["built", true, "/usr/local/bin/python3.11", "3.11"]);
    assert.deepEqual(built.record.wheels.map((w) => w.filename), [wheels.greet.filename, wheels.helper.filename]);
    assert.equal(built.layers.length, 1);
    const path = (built.layers[0] as FileLayer).path;
    const entries = await tarList(path);
    for (const expected of [`${SITE}/greet/__init__.py`, `${SITE}/helper/__init__.py`, `${SITE}/greet-1.0.dist-info/INSTALLER`, "usr/local/bin/greet"]) {
      assert.ok(entries.includes(expected), `${expected} in ${entries.join(" ")}`);
    }
    const launcher = (await runOk("tar", ["-xzOf", path, "usr/local/bin/greet"])).stdout;
    assert.equal(launcher.split("\n")[0], "#!/usr/local/bin/python3.11");
    assert.ok(index.downloads().length > 0);

    index.resetRequests();
    const again = await runPythonStep(options(cacheDir));
    assert.deepEqual([again.source, again.resolved], ["local-cache", false]);
    assert.deepEqual(again.record, built.record);
    assert.deepEqual(index.requests(), []);
  });

  it("refresh runs the resolver again and, for the same wheels, makes the same layer", async () => {
    const cacheDir = join(work, "cache");
    const before = await runPythonStep(options(cacheDir));
    index.resetRequests();
    const refreshed = await runPythonStep(options(cacheDir, { refresh: true }));
    assert.deepEqual([refreshed.source, refreshed.resolved], ["built", true]);
    assert.ok(index.requests().some((r) => r.path.startsWith("/simple/greet")), "pip asked the index");
    assert.deepEqual(refreshed.record.layers, before.record.layers);
  });

  it("gives a large wheel a layer of its own, the same blob whatever else the image installs", async () => {
    const cacheDir = join(work, "cache-large");
    const largeWheelBytes = wheels.greet.size - 1;
    assert.ok(wheels.helper.size <= largeWheelBytes && wheels.modernOld.size <= largeWheelBytes, "greet is the only wheel above the threshold");
    const alone = await runPythonStep(options(cacheDir, { largeWheelBytes }));
    const more = await runPythonStep(options(join(work, "cache-large-2"), { largeWheelBytes, requirements: { packages: ["greet", "modern"], indexUrl: index.url } }));
    assert.deepEqual(alone.record.layers.map((l) => [l.kind, l.wheels]), [["large", [wheels.greet.filename]], ["shared", [wheels.helper.filename]]]);
    assert.deepEqual(more.record.layers.map((l) => [l.kind, l.wheels]), [["large", [wheels.greet.filename]], ["shared", [wheels.helper.filename, wheels.modernOld.filename]]]);
    assert.equal(more.record.layers[0]!.digest, alone.record.layers[0]!.digest);
    assert.notEqual(more.record.layers[1]!.digest, alone.record.layers[1]!.digest);
  });

  it("makes the groups' layers side by side, yet records layers, progress and warnings in group order", async () => {
    const cacheDir = join(work, "cache-groups");
    const largeWheelBytes = Math.min(wheels.greet.size, wheels.fastmathAmd64.size) - 1;
    const requirements = { packages: ["greet", "fastmath", "modern"], indexUrl: index.url };
    const first = await runPythonStep(options(cacheDir, { largeWheelBytes, requirements }));
    const groups = first.record.layers.map((l) => [l.kind, l.wheels]);
    assert.deepEqual(groups, [
      ["large", [wheels.fastmathAmd64.filename]],
      ["large", [wheels.greet.filename]],
      ["shared", [wheels.helper.filename, wheels.modernOld.filename]],
    ]);
    assert.deepEqual(
      first.layers.map((l) => l.descriptor.digest),
      first.record.layers.map((l) => l.digest),
    );

    // Damage every layer file: each group warns as it finds its own, and is built again.
    for (const layer of first.layers) await appendFile((layer as FileLayer).path, "x");
    const progress: PythonStepProgress[] = [];
    const again = await runPythonStep(options(cacheDir, { largeWheelBytes, requirements, refresh: true, onProgress: (p) => progress.push(p) }));
    assert.deepEqual(again.record.layers, first.record.layers, "the same bytes, in the same order");
    const damaged = again.warnings.filter((w) => w.includes("the local cache entry is damaged"));
    assert.deepEqual(
      damaged.map((w) => first.layers.findIndex((l) => w.includes((l as FileLayer).path))),
      [0, 1, 2],
    );
    const layerEvents = progress.filter((p) => p.phase === "layer");
    for (const [i, layer] of first.record.layers.entries()) {
      const own = layerEvents.filter((p) => p.index === i + 1);
      assert.ok(own.length >= 2, `layer ${i + 1} reported`);
      assert.ok(
        own.every((p) => p.layers === 3 && p.wheels === layer.wheels.length),
        `layer ${i + 1}'s events name its place and its wheels`,
      );
      assert.deepEqual([own[0]!.status, own[0]!.read], ["compressing", 0]);
      const last = own.at(-1)!;
      assert.deepEqual([last.status, last.size], ["written", layer.size]);
    }
  });

  it("checks pythonVersion against the base's interpreter", async () => {
    await assert.rejects(runPythonStep(options(join(work, "cache"), { pythonVersion: "3.12" })), (e: Error & { code?: string }) => {
      assert.equal(e.code, "PYTHON_VERSION_MISMATCH");
      assert.match(e.message, /Python 3\.12.*example\.com\/python:3\.11 has Python 3\.11 \(\/usr\/local\/bin\/python3\.11\)/);
      return true;
    });
  });

  it("treats an unreadable registry entry as a miss to report, and builds the layers itself", async () => {
    const cacheDir = join(work, "cache-registry");
    const repository = parseReference(`${reg.host}/team/python-step`);
    // Learn the key, then put a foreign artifact under its tag.
    const local = await runPythonStep(options(join(work, "cache")));
    const foreign = stepCacheArtifact({ ...local.record, key: sha256("another key") }, local.layers);
    await registry.push({ ...repository, tag: cacheTag(local.record.key) }, foreign);

    const result = await runPythonStep(options(cacheDir, { registryCache: { registry, repository } }));
    assert.equal(result.source, "built");
    assert.equal(result.registryLookup?.status, "error");
    assert.deepEqual(result.record.layers, local.record.layers);
  });

  it("the builder reports an unreadable step cache as a warning, replaces it after the push, and the next fresh runner uses it", async () => {
    const project = join(work, "project");
    const baseRef = `${reg.host}/base/python:3.11`;
    await registry.copy(baseImage.ref, baseRef);
    const spec = new ImageSpec({ name: "warned", registry: `${reg.host}/team`, baseImage: baseRef, packages: ["greet"], pipIndex: index.url }, { baseDir: project });
    // Poison the cache tag this build will look up: the key is the one runPythonStep computes for the same inputs.
    const probe = await runPythonStep(options(join(work, "cache"), { base: { ...base, reference: baseRef } }));
    const repository = parseReference(`${reg.host}/team/warned`);
    await registry.push({ ...repository, tag: cacheTag(probe.record.key) }, stepCacheArtifact({ ...probe.record, key: sha256("x") }, probe.layers));

    const events: BuildEvent[] = [];
    const result = await buildSpec(spec, { registry, cacheDir: join(work, "cache-builder"), onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    const warnings = events.filter((e) => e.kind === "warning").map((e) => (e as { message: string }).message);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^step cache imagespec-cache-[a-z2-7]{26} could not be read, building the Python layers instead: .*written for key/);
    assert.deepEqual(events.filter((e) => e.kind === "step-cache").map((e) => [(e as { step: string }).step, (e as { status: string }).status]), [["base-python", "stored"], ["python", "stored"]]);

    const fresh: BuildEvent[] = [];
    await buildSpec(spec, { registry, cacheDir: join(work, "cache-fresh"), force: true, onEvent: (e) => fresh.push(e) });
    assert.deepEqual(fresh.filter((e) => e.kind === "python").map((e) => [(e as { base: string }).base, (e as { source: string }).source]), [["registry-cache", "registry-cache"]]);
    assert.deepEqual(fresh.filter((e) => e.kind === "warning"), []);
  });

  it("puts the scripts directory on PATH only when the image's PATH lacks it and the spec does not set PATH", () => {
    const config = (env: string[]): ImageConfig => ({ architecture: "amd64", os: "linux", config: { Env: env }, rootfs: { type: "layers", diff_ids: [] } });
    assert.deepEqual(withScriptsOnPath({ A: "1" }, config(["PATH=/usr/local/bin:/usr/bin"]), "/usr/local/bin"), { A: "1" });
    assert.deepEqual(withScriptsOnPath({}, config(["PATH=/usr/bin:/bin"]), "/opt/venv/bin"), { PATH: "/opt/venv/bin:/usr/bin:/bin" });
    assert.deepEqual(withScriptsOnPath({}, undefined, "/opt/venv/bin"), { PATH: "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" });
    assert.deepEqual(withScriptsOnPath({ PATH: "/mine" }, config(["PATH=/usr/bin"]), "/opt/venv/bin"), { PATH: "/mine" });
  });
});
