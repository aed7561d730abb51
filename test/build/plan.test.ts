// The plan and its description (`build --dry-run`): the apt step after the base, the Python step before the files,
// which wheel goes into which layer when the resolution is cached on this machine, and the
// errors for what the native builder refuses, worded for the spec's builder setting.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describePlan, planBuild } from "../../src/build/index.js";
import { nativeSelection, selectBuilder } from "../../src/build/select.js";
import { blockedError } from "../../src/build/unsupported.js";
import { rememberBasePython } from "../../src/build/base-python.js";
import { parsePlatform } from "../../src/oci/index.js";
import { resolutionKey, wheelCachePath, type PythonRequirements } from "../../src/python/index.js";
import { writeCachedResolution } from "../../src/python/resolution.js";
import { ImageSpec } from "../../src/spec/index.js";
import { removeDir, tempDir } from "../support/tools.js";

const BASE = "registry.example.com/python:3.11";
const TORCH = "torch-2.3.0-cp311-cp311-manylinux_2_17_x86_64.whl";
const SMALL = ["attrs-23.2.0-py3-none-any.whl", "six-1.16.0-py2.py3-none-any.whl"];

describe("plan", () => {
  let project: string;

  before(async () => {
    project = await tempDir("imagespec-plan-");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "src", "main.py"), "print(1)\n");
    await writeFile(join(project, "requirements.txt"), "six\n");
  });
  after(async () => {
    await removeDir(project);
  });

  const spec = (extra: Record<string, unknown> = {}) =>
    new ImageSpec(
      {
        name: "app",
        baseImage: BASE,
        packages: ["torch", "attrs"],
        requirements: "requirements.txt",
        pipIndex: "https://user:secret@pypi.example.com/simple/",
        sourceRoot: "src",
        platform: "linux/amd64,linux/arm64",
        ...extra,
      },
      { baseDir: project },
    );

  it("puts the Python step between the base and the files, and says what is still to be resolved", async () => {
    const plan = await planBuild(spec(), { cacheDir: join(project, "empty-cache") });
    assert.deepEqual(plan.steps.map((s) => s.kind), ["base", "python", "files", "config"]);
    assert.deepEqual(plan.blockers, []);
    const text = describePlan(plan);
    assert.match(text, /^2\. python +packages torch, attrs; requirements requirements\.txt; index https:\/\/\[redacted\]@pypi\.example\.com\/simple\/$/m);
    assert.ok(!text.includes("secret"), "credentials never reach the plan");
    assert.match(text, /^ +linux\/amd64: resolved at build time/m);
    assert.match(text, /^ +linux\/arm64: resolved at build time/m);
    assert.match(text, /^3\. files +1 files/m);
  });

  it("lists the layers of a cached resolution: large wheels alone, the rest together", async () => {
    const cacheDir = join(project, "cache");
    const s = spec();
    const plan = await planBuild(s, { cacheDir, preview: false });
    const step = plan.steps.find((x) => x.kind === "python");
    assert.ok(step?.kind === "python");
    const requirements: PythonRequirements = step.requirements;
    const amd64 = parsePlatform("linux/amd64");
    await rememberBasePython(cacheDir, BASE, amd64, { version: "3.11", interpreter: "/usr/local/bin/python3.11" });
    await rememberBasePython(cacheDir, BASE, parsePlatform("linux/arm64"), { version: "3.11", interpreter: "/usr/local/bin/python3.11" });
    const wheels = [TORCH, ...SMALL].map((filename, i) => ({ name: filename.split("-")[0]!, version: "1", url: `https://pypi.example.com/files/${filename}`, sha256: String(i).repeat(64), filename }));
    await writeCachedResolution(cacheDir, { key: resolutionKey(requirements, "six\n", { platform: amd64, pythonVersion: "3.11" }), resolver: "pip", wheels });

    // Resolved but not downloaded: the wheels are listed, the grouping needs their sizes.
    const resolvedOnly = describePlan(await planBuild(s, { cacheDir }));
    assert.match(resolvedOnly, /linux\/amd64: Python 3\.11 \(\/usr\/local\/bin\/python3\.11\); resolution cached, 3 wheels \(layers decided once they are downloaded\)\n +torch-2\.3\.0/);
    assert.match(resolvedOnly, /linux\/arm64: Python 3\.11 \(\/usr\/local\/bin\/python3\.11\); not resolved yet/);

    for (const [i, wheel] of wheels.entries()) {
      const path = wheelCachePath(cacheDir, wheel.sha256);
      await mkdir(join(path, ".."), { recursive: true });
      await writeFile(path, "");
      await truncate(path, i === 0 ? 25 * 1024 * 1024 : 2048);
    }
    const grouped = describePlan(await planBuild(s, { cacheDir }));
    assert.match(grouped, /linux\/amd64: Python 3\.11 \(\/usr\/local\/bin\/python3\.11\); resolution cached, 3 wheels:\n +layer 1 \(large, 25\.0 MiB\): torch-2\.3\.0-cp311-cp311-manylinux_2_17_x86_64\.whl\n +layer 2 \(shared, 4\.0 KiB\): attrs-23\.2\.0-py3-none-any\.whl, six-1\.16\.0-py2\.py3-none-any\.whl/);
  });

  it("refuses commands and conda for a Dockerfile builder, worded for the builder setting; apt is no blocker", async () => {
    // The native builder alone refuses; ImageBuilder (src/build/image-builder.ts) picks a Dockerfile builder under auto.
    const auto = await planBuild(spec({ commands: ["make"], aptPackages: ["curl"] }), { preview: false });
    assert.deepEqual(auto.blockers.map((b) => b.field), ["commands"]);
    const autoError = blockedError(auto);
    assert.equal(autoError.code, "NATIVE_UNSUPPORTED");
    assert.equal(autoError.message, 'spec "app" uses fields the native builder cannot build: commands (they run inside the image)');
    assert.match(autoError.hint ?? "", /a Dockerfile builder \(docker, podman, buildah, buildkit\) is needed: build with builder: auto through ImageBuilder/);

    const nativePlan = await planBuild(spec({ condaPackages: ["numpy"], builder: "native" }), { preview: false });
    const native = blockedError(nativePlan);
    // Asked for, a native build of such a spec is bad input (exit 2), refused before any work.
    assert.equal(native.code, "INVALID_BUILDER");
    assert.equal(native.message, 'spec "app" sets builder: native, but the native builder cannot build condaPackages (conda runs inside the image)');
    await assert.rejects(selectBuilder(nativePlan), { code: "INVALID_BUILDER", message: native.message });
    assert.throws(() => nativeSelection(auto, "native"), { code: "INVALID_BUILDER", message: /^--builder native was given, but the native builder cannot build commands/ });
    assert.match(native.hint ?? "", /set builder to auto or one of docker, podman, buildah, buildkit: a Dockerfile builder .* runs them inside the image/);

    const aptOnly = await planBuild(spec({ aptPackages: ["curl"], builder: "native" }), { preview: false });
    assert.deepEqual(aptOnly.blockers, []);
    // Under auto, ImageBuilder's choice for an apt spec is the native builder (no Dockerfile builder is even looked for).
    const autoApt = await planBuild(spec({ aptPackages: ["curl"] }), { preview: false });
    const chosen = await selectBuilder(autoApt, {
      createBackend: (name) => {
        throw new Error(`${name} was looked for`);
      },
    });
    assert.deepEqual(chosen, { kind: "native", reason: "the native builder can build every field of the spec" });
  });

  it("plans apt packages as a step between the base and the Python packages, with the spec's mirror", async () => {
    const plan = await planBuild(spec({ aptPackages: ["jq", "curl=7.88.1-10+deb12u5"], builderOptions: { aptMirror: "http://user:pw@mirror.internal/debian" } }), { preview: false });
    assert.deepEqual(plan.steps.map((s) => s.kind), ["base", "apt", "python", "files", "config"]);
    const apt = plan.steps[1]!;
    assert.deepEqual(apt, { kind: "apt", packages: ["jq", "curl=7.88.1-10+deb12u5"], mirror: "http://user:pw@mirror.internal/debian" });
    const text = describePlan(plan);
    assert.match(text, /^2\. apt {7}jq, curl=7\.88\.1-10\+deb12u5 \(resolved at build time from the base's apt sources, main archive replaced by http:\/\/\[redacted\]@mirror\.internal\/debian\)$/m);
    assert.doesNotMatch(text, /pw/);
    assert.match(text, /^3\. python /m);

    const plain = await planBuild(spec({ aptPackages: ["jq"], packages: [], requirements: undefined }), { preview: false });
    assert.deepEqual(plain.steps.map((s) => s.kind), ["base", "apt", "files", "config"]);
    assert.equal("mirror" in plain.steps[1]!, false);
  });

  it("refuses an aptMirror that is not an http, https or file URL", async () => {
    for (const aptMirror of ["mirror.internal/debian", 42, "ftp://mirror.internal/debian"]) {
      await assert.rejects(planBuild(spec({ aptPackages: ["jq"], builderOptions: { aptMirror } }), { preview: false }), (error: Error & { code?: string }) => {
        assert.equal(error.code, "INVALID_BUILDER_OPTIONS");
        assert.equal(error.message, `builderOptions.aptMirror: expected an http, https or file URL of a Debian archive, got ${JSON.stringify(aptMirror)}`);
        return true;
      });
    }
  });
});
