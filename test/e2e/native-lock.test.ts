// The native builder with `requirements: uv.lock` (and poetry.lock), end to end: the Debian
// bookworm + python3 base (cached fixture) in a local docker-registry, the locked wheels served from
// a PEP 503 index on 127.0.0.1, the amd64 image run with podman. The lock decides everything: per
// platform its locked set, no resolver, and a file that does not match the lock's hash stops the
// build before anything is pushed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildSpec, type BuildEvent } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { publishDebianPythonBase } from "../support/debian-base.js";
import { POETRY_PYPROJECT, poetryLock, UV_PYPROJECT, uvLock } from "../support/locks.js";
import { podmanRun } from "../support/podman.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";
import { buildFixtureWheels, type FixtureWheels } from "../support/wheels.js";

describe("native builder: lock files as requirements", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let wheels: FixtureWheels;
  let work: string;
  let baseReference: string;
  const base = () => baseReference;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-lock-");
    wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    baseReference = await publishDebianPythonBase(registry, reg.host);
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  async function project(name: string, files: Record<string, string>): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
    return dir;
  }

  function spec(dir: string, requirements: string, extra: Record<string, unknown> = {}): ImageSpec {
    return new ImageSpec({ name: "locked", registry: `${reg.host}/team`, baseImage: base(), pythonVersion: "3.11", requirements, platform: "linux/amd64,linux/arm64", ...extra }, { baseDir: dir });
  }

  const pythonEvents = (events: BuildEvent[]) =>
    events.filter((e): e is Extract<BuildEvent, { kind: "python" }> => e.kind === "python").map((e) => [e.platform, e.wheels, e.resolved] as const).sort();

  it("uv.lock: each platform gets its locked set, and the amd64 image imports it", async () => {
    const dir = await project("uv", { "uv.lock": uvLock(wheels, index), "pyproject.toml": UV_PYPROJECT });
    const events: BuildEvent[] = [];
    const result = await buildSpec(spec(dir, "uv.lock"), { registry, cacheDir: join(work, "cache-uv"), onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    assert.deepEqual(pythonEvents(events), [["linux/amd64", 4, false], ["linux/arm64", 3, false]]);
    const script = [
      "python3 -c 'import fastmath, greet, helper, x86only; print(fastmath.add(2, 3), greet.greeting(\"lock\"))'",
      "python3 -c 'import modern' 2>/dev/null && echo 'dev group installed' || echo 'no dev group'",
      "python3 -c 'import app' 2>/dev/null && echo 'project installed' || echo 'no project'",
    ].join("\n");
    const ran = await podmanRun(`${result.image}`, ["/bin/sh", "-c", script], { platform: "linux/amd64" });
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(ran.stdout.trim().split("\n"), ["5 HELLO LOCK!", "no dev group", "no project"]);
  });

  it("poetry.lock: main and dev groups (poetry install's default), files found on pipIndex", async () => {
    const dir = await project("poetry", { "poetry.lock": poetryLock(wheels), "pyproject.toml": POETRY_PYPROJECT });
    const events: BuildEvent[] = [];
    const result = await buildSpec(spec(dir, "poetry.lock", { pipIndex: index.url, platform: "linux/amd64" }), { registry, cacheDir: join(work, "cache-poetry"), onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    const ran = await podmanRun(result.image, ["python3", "-c", "import fastmath, greet, modern; print(modern.VERSION)"], { platform: "linux/amd64" });
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), "1");
  });

  it("a wheel that does not match the lock's hash stops the build, and no tag is pushed", async () => {
    const dir = await project("uv-bad", { "uv.lock": uvLock(wheels, index, { helperHash: "1".repeat(64) }), "pyproject.toml": UV_PYPROJECT });
    reg.resetRequests();
    await assert.rejects(buildSpec(spec(dir, "uv.lock"), { registry, cacheDir: join(work, "cache-bad") }), (error: unknown) => {
      assert.equal((error as { code?: string }).code, "WHEEL_HASH_MISMATCH");
      return true;
    });
    const requests = await reg.requests();
    assert.deepEqual(requests.filter((r) => r.method === "PUT" && r.path.includes("/manifests/")), []);
  });
});
